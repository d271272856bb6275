import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { BadInputError } from '../../src/errors.js';
import { readLines } from '../../src/data/lineReader.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lcrec-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function collect(file: string, opts?: Parameters<typeof readLines>[1]) {
  const out: { line: string; lineNumber: number }[] = [];
  for await (const l of readLines(file, opts)) out.push(l);
  return out;
}

test('plain and gzipped files give the same numbered lines, gzip detected by content', async (t) => {
  const dir = await tempDir(t);
  const long = 'é'.repeat(1_500_000); // 3 MB line: spans several read chunks, multi-byte chars
  const text = `{"a":1}\n\n  spaced  \n${long}\nlast without newline`;
  const plain = path.join(dir, 'reviews.gz'); // misleading names on purpose
  const gz = path.join(dir, 'reviews.jsonl');
  await writeFile(plain, text);
  await writeFile(gz, gzipSync(text));

  const expected = ['{"a":1}', '', '  spaced  ', long, 'last without newline'].map((line, i) => ({
    line,
    lineNumber: i + 1,
  }));
  assert.deepEqual(await collect(plain), expected);
  assert.deepEqual(await collect(gz), expected);
});

test('CRLF line endings are stripped, lone CR inside a line is kept, trailing newline adds no line', async (t) => {
  const file = path.join(await tempDir(t), 'crlf.txt');
  await writeFile(file, '\uFEFFa\r\nb\rc\r\n\r\nd\r\n');
  assert.deepEqual((await collect(file)).map((l) => l.line), ['a', 'b\rc', '', 'd']);
});

test('truncated gzip names the file and the last complete line', async (t) => {
  const dir = await tempDir(t);
  const noise = randomBytes(20_000 * 24).toString('hex');
  const lines = Array.from({ length: 20_000 }, (_, i) => `${i} ${noise.slice(i * 48, i * 48 + 48)}`);
  const whole = gzipSync(lines.join('\n') + '\n');
  const file = path.join(dir, 'cut.jsonl.gz');
  await writeFile(file, whole.subarray(0, Math.floor(whole.length * 0.6)));

  const seen: { line: string; lineNumber: number }[] = [];
  await assert.rejects(
    (async () => {
      for await (const l of readLines(file)) seen.push(l);
    })(),
    (err: unknown) => {
      assert.ok(err instanceof BadInputError);
      assert.ok(seen.length > 0 && seen.length < lines.length);
      assert.equal(err.message, `${file}: truncated or corrupt gzip after line ${seen.length}`);
      return true;
    },
  );
  seen.forEach((l, i) => assert.deepEqual(l, { line: lines[i], lineNumber: i + 1 }));
});

test('empty files are rejected, plain or gzip', async (t) => {
  const dir = await tempDir(t);
  const empty = path.join(dir, 'empty.jsonl');
  const emptyGz = path.join(dir, 'empty.jsonl.gz');
  await writeFile(empty, '');
  await writeFile(emptyGz, gzipSync(''));
  await assert.rejects(collect(empty), { name: 'BadInputError', message: `${empty}: file is empty` });
  await assert.rejects(collect(emptyGz), { name: 'BadInputError', message: `${emptyGz}: file is empty` });
});

test('missing file', async (t) => {
  const missing = path.join(await tempDir(t), 'nope.jsonl.gz');
  await assert.rejects(collect(missing), { name: 'BadInputError', message: `${missing}: no such file` });
});

test('onBytes reports compressed progress up to the file size; abort stops reading', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'big.gz');
  const noise = randomBytes(100_000 * 16).toString('hex');
  const text = Array.from({ length: 100_000 }, (_, i) => `${i} ${noise.slice(i * 32, i * 32 + 32)}`).join('\n');
  await writeFile(file, gzipSync(text));
  const size = (await stat(file)).size;

  const reports: [number, number][] = [];
  const got = await collect(file, { onBytes: (read, total) => reports.push([read, total]) });
  assert.equal(got.length, 100_000);
  assert.ok(reports.length > 1);
  assert.ok(reports.every(([read, total], i) => total === size && read <= size && (i === 0 || read >= reports[i - 1]![0])));
  assert.equal(reports.at(-1)![0], size);

  const ac = new AbortController();
  let count = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of readLines(file, { signal: ac.signal })) if (++count === 3) ac.abort();
    })(),
    { name: 'AbortError' },
  );
  assert.equal(count, 3);
});
