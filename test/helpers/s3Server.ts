import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { ensureMinioBinary } from '../../infra/minioBinary.js';
import { createS3Client, type S3Settings } from '../../src/store/s3Client.js';

/**
 * A real S3-compatible server for the tests: MinIO (built from its Go module, see
 * infra/minioBinary.ts) on a free loopback port, with a temporary data directory and generated
 * credentials, and one bucket created. `stop()` ends the process and removes its data.
 */
export interface S3TestServer {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  settings: S3Settings;
  /** Environment for lcrec processes: credentials, region, endpoint, path style. */
  env: Record<string, string>;
  /** A client with the server's credentials (for setting up and inspecting). */
  client: S3Client;
  createBucket(name: string): Promise<void>;
  /** Every object key under `prefix` in `bucket` (default: the fixture's bucket). */
  listKeys(prefix?: string, bucket?: string): Promise<string[]>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export async function startS3Server(opts: { accessKeyId?: string; secretAccessKey?: string; bucket?: string } = {}): Promise<S3TestServer> {
  const bin = await ensureMinioBinary();
  const dir = await mkdtemp(join(tmpdir(), 'lcrec-s3-'));
  const accessKeyId = opts.accessKeyId ?? `lcrec${randomBytes(6).toString('hex')}`;
  const secretAccessKey = opts.secretAccessKey ?? randomBytes(18).toString('base64url');
  const bucket = opts.bucket ?? 'lcrec-test';
  let child: ChildProcess | undefined;
  let endpoint = '';
  let log = '';
  // A port found free can be taken before MinIO binds it: try a few.
  for (let tries = 0; tries < 5 && !endpoint; tries++) {
    const [port, consolePort] = [await freePort(), await freePort()];
    log = '';
    const proc = spawn(
      bin,
      ['server', join(dir, 'data'), '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--certs-dir', join(dir, 'certs'), '--quiet'],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: dir,
          MINIO_ROOT_USER: accessKeyId,
          MINIO_ROOT_PASSWORD: secretAccessKey,
          MINIO_BROWSER: 'off',
          MINIO_UPDATE: 'off',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    proc.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const url = `http://127.0.0.1:${port}`;
    if (await waitHealthy(url, exited)) {
      child = proc;
      endpoint = url;
    } else {
      proc.kill('SIGKILL');
      await exited;
    }
  }
  if (!child) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`MinIO did not start: ${log.slice(-2000)}`);
  }
  const proc = child;
  const settings: S3Settings = { endpoint, region: 'us-east-1', forcePathStyle: true, maxAttempts: 3 };
  // The fixture's client is given its credentials explicitly: the tests' own environment may hold others.
  const admin = createS3Client(settings, { accessKeyId, secretAccessKey });
  const fixture: S3TestServer = {
    endpoint,
    bucket,
    accessKeyId,
    secretAccessKey,
    settings,
    env: {
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_REGION: 'us-east-1',
      LCREC_S3_ENDPOINT: endpoint,
      LCREC_S3_FORCE_PATH_STYLE: '1',
      LCREC_S3_MAX_ATTEMPTS: '3',
    },
    client: admin,
    async createBucket(name) {
      await admin.send(new CreateBucketCommand({ Bucket: name }));
    },
    async listKeys(prefix = '', name = bucket) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await admin.send(new ListObjectsV2Command({ Bucket: name, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
    async stop() {
      admin.destroy();
      const exited = new Promise((resolve) => (proc.exitCode !== null ? resolve(undefined) : proc.once('exit', resolve)));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await fixture.createBucket(bucket);
  return fixture;
}

async function waitHealthy(url: string, exited: Promise<void>): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !gone) {
    const ok = await fetch(`${url}/minio/health/live`).then((r) => r.ok, () => false);
    if (ok) return true;
    await sleep(100);
  }
  return false;
}
