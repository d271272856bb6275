/**
 * Errors that the pipeline reports to users. A BadInputError means the input itself is wrong:
 * retrying cannot help, so activities turn it into a non-retryable failure. Its message always
 * names where the problem is (file and line, or config key).
 */
export interface InputLocation {
  file?: string;
  line?: number;
  field?: string;
}

export class BadInputError extends Error {
  override readonly name = 'BadInputError';
  readonly location: InputLocation;

  constructor(reason: string, location: InputLocation = {}) {
    super(formatLocation(location) + reason);
    this.location = location;
  }
}

function formatLocation({ file, line, field }: InputLocation): string {
  const parts: string[] = [];
  if (file !== undefined) parts.push(line !== undefined ? `${file}:${line}` : file);
  if (field !== undefined) parts.push(`field '${field}'`);
  return parts.length > 0 ? `${parts.join(', ')}: ` : '';
}
