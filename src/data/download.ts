/**
 * HTTP(S) download of one dataset file into the data directory: streamed (multi-GB dumps never
 * sit in memory), resumable, checked.
 *
 * The body goes to `<dest>.part`, renamed to `<dest>` only once complete (and, when a digest is
 * known, once its sha256 matches). A dropped connection keeps the part for the next attempt only
 * when its bytes are proven to be a prefix of the same resource: the server named a validator
 * (ETag or Last-Modified, stored beside the part), and the resume asks for the rest with `Range`
 * plus `If-Range`, so a changed file answers 200 with the whole new body and the part is
 * restarted instead of spliced. A wrong digest, an HTTP error or a part without a validator
 * leaves nothing behind.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { BadInputError } from '../errors.js';

export interface DownloadOptions {
  /** Expected sha256 (hex) of the whole file, when known (the registry's); checked before publishing. */
  sha256?: string | null;
  signal?: AbortSignal;
  /** Bytes written so far (including a resumed part) and the total when the server says it. */
  onProgress?: (done: number, total: number | undefined) => void;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  /** Bytes reused from an earlier interrupted attempt. */
  resumedFrom: number;
}

/** An interrupted transfer: retrying resumes it when the part was kept. Not the input's fault. */
export class DownloadInterruptedError extends Error {
  override readonly name = 'DownloadInterruptedError';
}

const PartInfo = z.object({
  url: z.string(),
  etag: z.string().nullable(),
  lastModified: z.string().nullable(),
  total: z.number().int().nonnegative().nullable(),
});
type PartInfo = z.infer<typeof PartInfo>;

export function isHttpUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** Downloads `url` to `dest` unless `dest` already exists (then it is only checked). */
export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const expected = opts.sha256?.toLowerCase() ?? null;
  const existing = await stat(dest).catch(() => undefined);
  if (existing) {
    const digest = await sha256OfFile(dest);
    if (expected && digest !== expected) {
      throw new BadInputError(`the file already in the data directory has sha256 ${digest}, the registry expects ${expected}; delete it to download again`, { file: dest });
    }
    return { path: dest, bytes: existing.size, sha256: digest, resumedFrom: existing.size };
  }
  await mkdir(dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const infoFile = `${part}.json`;
  const discard = () => Promise.all([rm(part, { force: true }), rm(infoFile, { force: true })]);

  let info = await readPartInfo(infoFile, url);
  let have = info ? ((await stat(part).catch(() => undefined))?.size ?? 0) : 0;
  if (!info) await discard();

  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (info && have > 0) {
    headers.range = `bytes=${have}-`;
    headers['if-range'] = (info.etag ?? info.lastModified)!;
  }
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: opts.signal, redirect: 'follow' });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    throw new DownloadInterruptedError(`${url}: cannot connect (${describeCause(err)})`);
  }

  let append = false;
  if (res.status === 206 && info) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    const total = range && range[3] !== '*' ? Number(range[3]) : null;
    if (range && Number(range[1]) === have && (info.total === null || total === info.total)) append = true;
    else {
      await res.body?.cancel();
      await discard();
      throw new DownloadInterruptedError(`${url}: the server answered an unexpected range (${res.headers.get('content-range')}); the partial file was discarded, run again`);
    }
  } else if (res.status === 416 && info && info.total !== null && have === info.total) {
    // The part already holds every byte: only the check and the rename are left.
    await res.body?.cancel();
    return finish(url, dest, part, infoFile, expected, have, opts);
  } else if (!res.ok) {
    await res.body?.cancel();
    await discard();
    throw new BadInputError(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`, { file: url });
  }
  if (!append) {
    // A fresh body (first attempt, a changed resource, or a server that ignores Range).
    have = 0;
    const length = res.headers.get('content-length');
    info = {
      url,
      etag: strongEtag(res.headers.get('etag')),
      lastModified: res.headers.get('last-modified'),
      total: length !== null && /^\d+$/.test(length) ? Number(length) : null,
    };
    await rm(part, { force: true });
    if (info.etag !== null || info.lastModified !== null) await writeFile(infoFile, JSON.stringify(info));
    else await rm(infoFile, { force: true });
  }

  const resumedFrom = have;
  let done = have;
  const out = createWriteStream(part, { flags: append ? 'a' : 'w' });
  try {
    if (!res.body) throw new DownloadInterruptedError(`${url}: empty response`);
    for await (const chunk of Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>)) {
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      done += (chunk as Buffer).length;
      opts.onProgress?.(done, info!.total ?? undefined);
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  } catch (err) {
    out.destroy();
    if (opts.signal?.aborted) throw err;
    const resumable = info!.etag !== null || info!.lastModified !== null;
    if (!resumable) await discard();
    throw new DownloadInterruptedError(
      `${url}: the connection dropped after ${done} bytes${info!.total !== null ? ` of ${info!.total}` : ''} (${describeCause(err)}); ` +
        (resumable ? 'the part is kept: run again to resume' : 'the server gives no validator to resume against, so the part was discarded'),
    );
  }
  if (info!.total !== null && done !== info!.total) {
    throw new DownloadInterruptedError(`${url}: received ${done} of ${info!.total} bytes; run again to resume`);
  }
  return finish(url, dest, part, infoFile, expected, resumedFrom, opts);
}

async function finish(url: string, dest: string, part: string, infoFile: string, expected: string | null, resumedFrom: number, opts: DownloadOptions): Promise<DownloadResult> {
  opts.signal?.throwIfAborted();
  const digest = await sha256OfFile(part);
  const bytes = (await stat(part)).size;
  if (expected && digest !== expected) {
    await Promise.all([rm(part, { force: true }), rm(infoFile, { force: true })]);
    throw new BadInputError(`checksum mismatch: sha256 ${digest}, expected ${expected} (${bytes} bytes); nothing was kept`, { file: url });
  }
  await rename(part, dest);
  await rm(infoFile, { force: true });
  return { path: dest, bytes, sha256: digest, resumedFrom };
}

async function readPartInfo(file: string, url: string): Promise<PartInfo | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const info = PartInfo.parse(JSON.parse(text));
    return info.url === url && (info.etag !== null || info.lastModified !== null) ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Weak ETags (`W/"..."`) may not be used with If-Range. */
function strongEtag(etag: string | null): string | null {
  return etag !== null && !etag.startsWith('W/') ? etag : null;
}

export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function describeCause(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  return e.cause ? `${e.message}: ${e.cause.code ?? e.cause.message}` : e.message;
}
