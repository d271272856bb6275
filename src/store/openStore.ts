import { resolve } from 'node:path';
import { BadInputError } from '../errors.js';
import type { ArtifactStore } from './artifactStore.js';
import { LocalArtifactStore } from './localStore.js';
import { isS3Uri, parseS3Uri, s3SettingsFromEnv } from './s3Client.js';
import { S3ArtifactStore } from './s3Store.js';

/**
 * The artifact store for a root: `s3://bucket/prefix` (credentials from the standard AWS chain,
 * endpoint and path style from LCREC_S3_ENDPOINT / AWS_ENDPOINT_URL_S3 and LCREC_S3_FORCE_PATH_STYLE),
 * or a local directory. `cacheDir` (under the data directory) holds an S3 store's workspaces and
 * verified downloads.
 */
export function openArtifactStore(root: string, opts: { cacheDir: string; env?: NodeJS.ProcessEnv }): ArtifactStore {
  if (isS3Uri(root)) {
    const location = parseS3Uri(root, 'artifact root');
    return new S3ArtifactStore(location, { settings: s3SettingsFromEnv(opts.env), cacheDir: resolve(opts.cacheDir, 's3') });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(root)) {
    throw new BadInputError(`unsupported artifact root scheme in ${JSON.stringify(root.split('://')[0])}: use a directory or s3://bucket/prefix`);
  }
  return new LocalArtifactStore(resolve(root));
}
