/**
 * `npm test`: builds the Temporal CLI and MinIO (the S3 server of the store tests) when they are
 * not cached yet, finds headless Chromium for the report test (installing Debian's package when
 * root and it is missing), points the tests at them and at the shared datasets when present,
 * then runs every test file with node's test runner.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureChromium } from './chromium.js';
import { ensureMinioBinary } from './minioBinary.js';
import { ensureTemporalBinary } from './temporalBinary.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return testFiles(path);
      return name.endsWith('.test.ts') ? [path] : [];
    });
}

const env = { ...process.env };
env.LCREC_TEMPORAL_BIN = await ensureTemporalBinary(env);
env.LCREC_MINIO_BIN = await ensureMinioBinary(env);
env.LCREC_CHROMIUM_BIN = await ensureChromium(env);
const shared = resolve(root, '..', 'shared', 'datasets');
if (!env.LCREC_DATASETS && existsSync(shared)) env.LCREC_DATASETS = shared;

const only = process.argv.slice(2);
const files = only.length > 0 ? only : testFiles(join(root, 'test'));
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { cwd: root, env, stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
