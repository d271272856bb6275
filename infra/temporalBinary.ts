import { spawn } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { toolCacheDir } from './paths.js';

/**
 * The Temporal CLI (which contains the dev server with SQLite persistence), built from its Go
 * module. v1.5.1 is the last release whose go.mod has no `replace` directive, so `go install
 * module@version` accepts it; it pins Temporal server 1.29.1.
 */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** LCREC_TEMPORAL_BIN if set (it must exist), else the cached build, built now if missing. */
export async function ensureTemporalBinary(
  env: NodeJS.ProcessEnv = process.env,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<string> {
  const pinned = env.LCREC_TEMPORAL_BIN;
  if (pinned) {
    if (!(await isExecutable(pinned))) {
      throw new Error(`LCREC_TEMPORAL_BIN=${pinned} is not an executable file`);
    }
    return pinned;
  }
  const dir = toolCacheDir(env);
  const target = join(dir, 'temporal');
  if (await isExecutable(target)) return target;
  await buildTemporalCli(dir, log);
  return target;
}

async function buildTemporalCli(dir: string, log: (line: string) => void): Promise<void> {
  await mkdir(dir, { recursive: true });
  // Build into a scratch directory and rename, so an interrupted build never leaves a broken binary.
  const scratch = await mkdtemp(join(dir, '.build-'));
  log(`lcrec: building the Temporal CLI ${TEMPORAL_CLI_VERSION} from its Go module (first run only, a few minutes)...`);
  const started = Date.now();
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn('go', ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
        env: { ...process.env, GOBIN: scratch, GOFLAGS: '-mod=mod' },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.on('error', (err) =>
        reject(new Error(`cannot run 'go' to build the Temporal CLI (is Go >= 1.25 installed?): ${err.message}`)),
      );
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`'go install ${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}' failed (exit ${code})`)),
      );
    });
    await rename(join(scratch, 'temporal'), join(dir, 'temporal'));
    log(`lcrec: Temporal CLI built in ${((Date.now() - started) / 1000).toFixed(0)} s -> ${join(dir, 'temporal')}`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
