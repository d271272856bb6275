import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { BadInputError } from '../errors.js';
import { isSafeSegment } from './names.js';

/** `s3://bucket/prefix`: a bucket and a key prefix without leading or trailing slash ('' = the bucket's root). */
export interface S3Location {
  bucket: string;
  prefix: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function isS3Uri(value: string): boolean {
  return value.startsWith('s3://');
}

/**
 * Parses an `s3://bucket/prefix` URI. Every prefix segment must be a safe name: no `..`, no empty
 * segment, no percent-encoding, no credentials (`s3://key:secret@bucket` is refused without being
 * echoed: credentials come from the AWS environment or profile chain, never from a URI).
 */
export function parseS3Uri(uri: string, what = 'S3 location'): S3Location {
  if (!isS3Uri(uri)) throw new BadInputError(`${what} must start with s3://`);
  const rest = uri.slice('s3://'.length).replace(/\/+$/, '');
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1);
  if (bucket.includes('@') || bucket.includes(':')) {
    throw new BadInputError(`${what}: credentials or ports do not belong in an s3:// URI; use the AWS environment or profile (and LCREC_S3_ENDPOINT)`);
  }
  if (!BUCKET.test(bucket)) throw new BadInputError(`${what}: invalid bucket name ${JSON.stringify(bucket.slice(0, 70))}`);
  if (prefix !== '' && !prefix.split('/').every(isSafeSegment)) {
    throw new BadInputError(
      `${what}: invalid prefix ${JSON.stringify(prefix.slice(0, 120))} (segments of letters, digits, '_', '.', '-', not starting with '.')`,
    );
  }
  return { bucket, prefix };
}

export function formatS3Uri({ bucket, prefix }: S3Location): string {
  return `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
}

/** How to reach S3: endpoint and path style for MinIO and other S3-compatible services. */
export interface S3Settings {
  /** undefined = AWS's own endpoint for the region. */
  endpoint?: string;
  forcePathStyle: boolean;
  region?: string;
  maxAttempts: number;
}

export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Settings {
  const endpoint = env.LCREC_S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || (endpoint ? 'us-east-1' : undefined);
  const attempts = Number(env.LCREC_S3_MAX_ATTEMPTS ?? 5);
  return {
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    forcePathStyle: env.LCREC_S3_FORCE_PATH_STYLE === '1' || env.LCREC_S3_FORCE_PATH_STYLE === 'true',
    maxAttempts: Number.isInteger(attempts) && attempts >= 1 ? attempts : 5,
  };
}

/** The endpoint as shown in messages: without any user:password part. */
export function endpointLabel(settings: S3Settings): string {
  if (!settings.endpoint) return `AWS S3${settings.region ? ` (${settings.region})` : ''}`;
  try {
    const url = new URL(settings.endpoint);
    return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  } catch {
    return 'the configured S3 endpoint (not a valid URL)';
  }
}

/**
 * An S3 client with the standard credential chain (environment, shared config/profile, SSO,
 * instance roles), retries with exponential backoff and jitter (the SDK's standard strategy), and
 * checksums only where S3 requires them: with `WHEN_SUPPORTED`, streamed uploads use aws-chunked
 * framing that some S3-compatible servers store inside the object.
 */
export function createS3Client(settings: S3Settings, credentials?: { accessKeyId: string; secretAccessKey: string }): S3Client {
  // The SDK warns on every process start under Node 20 about its future Node 22 requirement.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    ...(settings.region ? { region: settings.region } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(credentials ? { credentials } : {}),
    maxAttempts: settings.maxAttempts,
    retryMode: 'standard',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
  });
}

/**
 * One clear error for a failed S3 call, naming the endpoint and the bucket and what to check. Built
 * from the error's code and HTTP status only: the SDK's own message and metadata never pass
 * through, so nothing the server echoed (or a credential) reaches logs, failures or manifests.
 */
export class S3AccessError extends Error {
  override readonly name = 'S3AccessError';
  constructor(
    message: string,
    readonly code: string,
    readonly status: number | undefined,
  ) {
    super(message);
  }
}

export function describeS3Error(err: unknown, where: { settings: S3Settings; bucket: string; action: string }): S3AccessError {
  if (err instanceof S3AccessError) return err;
  const endpoint = endpointLabel(where.settings);
  const at = `S3 endpoint ${endpoint}, bucket ${where.bucket}`;
  const e = err as { name?: string; code?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const status = err instanceof S3ServiceException ? err.$metadata?.httpStatusCode : e.$metadata?.httpStatusCode;
  const code = String(e.Code ?? e.name ?? e.code ?? 'Error');
  const sysCode = String(e.code ?? (err as { cause?: { code?: string } }).cause?.code ?? '');
  const reason = (() => {
    if (code === 'CredentialsProviderError' || /credential/i.test(code)) {
      return 'no AWS credentials found (set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE)';
    }
    if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'AuthorizationHeaderMalformed'].includes(code)) {
      return `the credentials were refused (${code}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile`;
    }
    if (code === 'AccessDenied' || status === 403) return `access denied (${code}): the credentials may not ${where.action} here`;
    if (code === 'NoSuchBucket' || (status === 404 && where.action === 'list')) return 'the bucket does not exist';
    if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT'].includes(sysCode) || ['TimeoutError', 'RequestTimeout'].includes(code)) {
      return `cannot reach the endpoint (${sysCode || code}); check LCREC_S3_ENDPOINT / AWS_ENDPOINT_URL_S3`;
    }
    return `${where.action} failed (${code}${status ? `, HTTP ${status}` : ''})`;
  })();
  return new S3AccessError(`${at}: ${reason}`, code, status);
}

/** Is this the SDK's "not found" for a GET/HEAD of one object? */
export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.Code === 'NoSuchKey' || (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket' && e.Code !== 'NoSuchBucket');
}

/** Did a conditional put lose (the object exists, or a concurrent conditional write is in flight)? */
export function isPreconditionFailed(err: unknown): { exists: boolean; conflict: boolean } {
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return {
    exists: status === 412 || e.name === 'PreconditionFailed' || e.Code === 'PreconditionFailed',
    conflict: status === 409 && (e.name === 'ConditionalRequestConflict' || e.Code === 'ConditionalRequestConflict'),
  };
}
