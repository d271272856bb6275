import { digestOf } from '../util/canonical.js';

/**
 * What determines a stage's output. Same inputs and config give the same key: that is what makes a
 * rerun reuse finished stages and two runs comparable. For ingestion the inputs are the sources'
 * content digests, never their paths, so new data always gives a new key.
 */
export interface KeyInputs {
  stage: string;
  /** Bumped whenever the stage's code changes what it writes. */
  codeVersion: string;
  /** Only the config fields the stage reads. */
  config: unknown;
  /** Content digests of everything the stage reads (upstream artifact keys, source files). */
  inputs: Record<string, string>;
}

export function stageKey(inputs: KeyInputs): string {
  return `${inputs.stage}-${digestOf(inputs).slice(0, 32)}`;
}
