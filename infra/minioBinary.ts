import { spawn } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { toolCacheDir } from './paths.js';

/**
 * MinIO, the S3-compatible server the tests run against, built from its Go module. MinIO's release
 * tags are not semver, so it is pinned by pseudo-version; this one's go.mod has no `replace`
 * directive, so `go install module@version` accepts it. Used only by the tests, as a separate
 * process (MinIO is AGPL-3.0; nothing of it is linked into or shipped with lcrec).
 */
export const MINIO_MODULE = 'github.com/minio/minio';
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(() => true, () => false);
}

/** LCREC_MINIO_BIN if set (it must exist), else the cached build, built now if missing. */
export async function ensureMinioBinary(
  env: NodeJS.ProcessEnv = process.env,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<string> {
  const pinned = env.LCREC_MINIO_BIN;
  if (pinned) {
    if (!(await isExecutable(pinned))) throw new Error(`LCREC_MINIO_BIN=${pinned} is not an executable file`);
    return pinned;
  }
  const dir = toolCacheDir(env);
  const target = join(dir, 'minio');
  if (await isExecutable(target)) return target;
  await mkdir(dir, { recursive: true });
  // Build into a scratch directory and rename, so an interrupted build never leaves a broken binary.
  const scratch = await mkdtemp(join(dir, '.build-'));
  log(`lcrec: building MinIO ${MINIO_VERSION} from its Go module for the S3 tests (first run only, a few minutes)...`);
  const started = Date.now();
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('go', ['install', `${MINIO_MODULE}@${MINIO_VERSION}`], {
        env: { ...process.env, GOBIN: scratch, GOFLAGS: '-mod=mod' },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.on('error', (err) => reject(new Error(`cannot run 'go' to build MinIO (is Go >= 1.25 installed?): ${err.message}`)));
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`'go install ${MINIO_MODULE}@${MINIO_VERSION}' failed (exit ${code})`)),
      );
    });
    await rename(join(scratch, 'minio'), target);
    log(`lcrec: MinIO built in ${((Date.now() - started) / 1000).toFixed(0)} s -> ${target}`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return target;
}
