import { homedir } from 'node:os';
import { join } from 'node:path';

/** The data directory: Temporal's SQLite file, artifacts, generated samples. */
export function lcrecHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.LCREC_HOME ?? join(homedir(), '.lcrec');
}

/** Where built tools are cached, independent of any data directory. */
export function toolCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lcrec', 'bin');
}

/** The artifact store root: LCREC_ARTIFACTS, or `artifacts/` under the data directory. */
export function artifactRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.LCREC_ARTIFACTS ?? join(lcrecHome(env), 'artifacts');
}
