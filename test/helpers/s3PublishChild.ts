/**
 * A stage attempt in its own process, for the "upload interrupted mid-way" test: it publishes a
 * small file and a large one (multipart) to the S3 store, printing `part` after every uploaded
 * part and pausing a little, so the parent can kill it while the large file is half uploaded.
 * Settings come as JSON in LCREC_TEST_PUBLISH.
 */
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createS3Client, type S3Settings } from '../../src/store/s3Client.js';
import { S3ArtifactStore } from '../../src/store/s3Store.js';

interface Job {
  settings: S3Settings;
  credentials: { accessKeyId: string; secretAccessKey: string };
  bucket: string;
  prefix: string;
  cacheDir: string;
  stage: string;
  key: string;
  attempt: string;
  megabytes: number;
}

const job = JSON.parse(process.env.LCREC_TEST_PUBLISH ?? '{}') as Job;
const client = createS3Client(job.settings, job.credentials);
client.middlewareStack.add(
  (next, context) => async (args) => {
    const result = await next(args);
    if (context.commandName === 'UploadPartCommand') {
      process.stdout.write('part\n');
      await sleep(300);
    }
    return result;
  },
  { step: 'initialize', name: 'slowParts' },
);
const store = new S3ArtifactStore({ bucket: job.bucket, prefix: job.prefix }, { settings: job.settings, cacheDir: job.cacheDir, client, partSize: 5 * 1024 * 1024 });
const attempt = await store.beginAttempt(job.stage, job.key, job.attempt);
await writeFile(join(attempt.dir, 'a-small.json'), '{"ok":true}\n');
const out = createWriteStream(join(attempt.dir, 'b-large.bin'));
for (let i = 0; i < job.megabytes; i++) {
  const chunk = Buffer.alloc(1024 * 1024, i % 251);
  if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
}
await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
process.stdout.write('publishing\n');
await store.publish(attempt, { summary: {}, keyInputs: {} });
process.stdout.write('published\n');
