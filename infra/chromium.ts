/**
 * Headless Chromium for the report test: finds it (LCREC_CHROMIUM_BIN, else Debian's
 * /usr/bin/chromium), installs Debian's `chromium` package when it is missing and we are root
 * (once: the installed binary is found on every later call), and drives one page over the
 * DevTools protocol: console messages, uncaught exceptions, every request the page makes, a value
 * computed in the page, a full-page screenshot.
 *
 * The protocol runs over a WebSocket. Node 22 has a global WebSocket; Node 20 only behind
 * `--experimental-websocket`, so without it `inspectPage` runs itself in a child Node with the
 * flag and reads the result back as JSON.
 */
import { spawn, spawnSync } from 'node:child_process';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

/**
 * Flags for a closed network and a root user (the machine notes): no sandbox (root), no GPU, no
 * background connections (they are refused here, many at a time), a fresh profile each time.
 */
export function headlessFlags(userDataDir: string): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-extensions',
    '--hide-scrollbars',
    '--mute-audio',
    `--user-data-dir=${userDataDir}`,
  ];
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A Chromium binary already on this machine, or undefined. */
export async function findChromium(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const pinned = env.LCREC_CHROMIUM_BIN;
  if (pinned) {
    if (!(await isExecutable(pinned))) throw new Error(`LCREC_CHROMIUM_BIN=${pinned} is not an executable file`);
    return pinned;
  }
  for (const path of CANDIDATES) if (await isExecutable(path)) return path;
  return undefined;
}

/** LCREC_CHROMIUM_BIN, else an installed Chromium, else Debian's package installed now (root only). */
export async function ensureChromium(
  env: NodeJS.ProcessEnv = process.env,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<string> {
  const found = await findChromium(env);
  if (found) return found;
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    throw new Error(
      'no Chromium found (looked for LCREC_CHROMIUM_BIN, ' +
        `${CANDIDATES.join(', ')}); install Debian's package as root: apt-get install -y chromium`,
    );
  }
  log('lcrec: installing Debian package chromium for the report test (first run only, a minute or two)...');
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', 'chromium']]) {
    const result = spawnSync('apt-get', args, { env: aptEnv, stdio: ['ignore', 'ignore', 'inherit'] });
    if (result.status !== 0) throw new Error(`'apt-get ${args.join(' ')}' failed (exit ${result.status})`);
  }
  const installed = await findChromium(env);
  if (!installed) throw new Error('apt-get installed chromium, but no binary is at /usr/bin/chromium');
  return installed;
}

export interface ConsoleEntry {
  /** log, info, warning, error, assert, exception, ... */
  level: string;
  text: string;
}

export interface PageInspection {
  /** Every console message, browser log entry and uncaught exception, in order. */
  console: ConsoleEntry[];
  /** The entries of level error/assert/exception: what a test expects to be empty. */
  errors: ConsoleEntry[];
  /** Every URL the page requested, the page itself included. */
  requests: string[];
  /** The JSON value of `expression`, evaluated after the load event. */
  value: unknown;
  /** Full page size in CSS pixels. */
  width: number;
  height: number;
}

export interface InspectOptions {
  chromium: string;
  /** A JavaScript expression evaluated in the page; its value must be JSON. */
  expression?: string;
  /** Where to write a full-page PNG screenshot. */
  screenshot?: string;
  /** Viewport width in CSS pixels (default 1280). */
  width?: number;
  timeoutMs?: number;
}

/** Opens a local HTML file in headless Chromium and reports what happened. */
export async function inspectPage(file: string, opts: InspectOptions): Promise<PageInspection> {
  if (typeof (globalThis as { WebSocket?: unknown }).WebSocket === 'function') return inspectInProcess(file, opts);
  return inspectInChild(file, opts);
}

async function inspectInChild(file: string, opts: InspectOptions): Promise<PageInspection> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--experimental-websocket', '--no-warnings', '--import', 'tsx', self, JSON.stringify({ file, opts })], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (code !== 0) throw new Error(`inspecting ${file} in headless Chromium failed (exit ${code}): ${Buffer.concat(err).toString().trim()}`);
  return JSON.parse(Buffer.concat(out).toString()) as PageInspection;
}

interface CdpMessage {
  id?: number;
  method?: string;
  params?: Record<string, any>;
  result?: Record<string, any>;
  error?: { message: string };
}

async function inspectInProcess(file: string, opts: InspectOptions): Promise<PageInspection> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const profile = await mkdtemp(join(tmpdir(), 'lcrec-chromium-'));
  // Its own process group, so the renderer and helper processes it starts end with it.
  const browser = spawn(opts.chromium, [...headlessFlags(profile), '--remote-debugging-port=0', '--remote-allow-origins=*', 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  const stop = (signal: NodeJS.Signals) => {
    try {
      process.kill(-browser.pid!, signal);
    } catch {
      browser.kill(signal);
    }
  };
  const deadline = setTimeout(() => stop('SIGKILL'), timeoutMs);
  try {
    const port = await devToolsPort(browser, timeoutMs);
    return await drive(await pageTarget(port, timeoutMs), file, opts);
  } finally {
    clearTimeout(deadline);
    if (browser.exitCode === null && browser.signalCode === null) {
      const exited = new Promise((resolve) => browser.once('exit', resolve));
      stop('SIGTERM');
      await exited;
    }
    await rm(profile, { recursive: true, force: true });
  }
}

/** The DevTools WebSocket URL of the browser's first page (it may take a moment to appear). */
async function pageTarget(port: number, timeoutMs: number): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { type: string; webSocketDebuggerUrl?: string }[];
    const page = targets.find((t) => t.type === 'page' && t.webSocketDebuggerUrl);
    if (page) return page.webSocketDebuggerUrl!;
    if (Date.now() > until) throw new Error('headless Chromium opened no page target');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The port from Chromium's "DevTools listening on ws://127.0.0.1:PORT/..." line. */
function devToolsPort(browser: ReturnType<typeof spawn>, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`headless Chromium did not start within ${timeoutMs} ms: ${text.slice(-2000)}`)), timeoutMs);
    browser.stderr!.on('data', (b: Buffer) => {
      text += b.toString();
      const match = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(text);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    browser.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`headless Chromium exited (${code}) before it listened: ${text.slice(-2000)}`));
    });
  });
}

async function drive(wsUrl: string, file: string, opts: InspectOptions): Promise<PageInspection> {
  const ws = new (globalThis as unknown as { WebSocket: typeof WebSocket }).WebSocket(wsUrl);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', () => reject(new Error(`cannot connect to Chromium at ${wsUrl}`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: Record<string, any>) => void; reject: (e: Error) => void }>();
  const listeners: ((m: CdpMessage) => void)[] = [];
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as CdpMessage;
    if (message.id !== undefined) {
      const call = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) call?.reject(new Error(`DevTools: ${message.error.message}`));
      else call?.resolve(message.result ?? {});
    } else for (const listener of listeners) listener(message);
  });
  // A browser that dies or is killed at the deadline closes the socket: fail, never hang.
  let closed!: (err: Error) => void;
  const whenClosed = new Promise<never>((_, reject) => (closed = reject));
  whenClosed.catch(() => undefined);
  ws.addEventListener('close', () => {
    const err = new Error('the connection to headless Chromium closed (it exited, or the time limit ran out)');
    for (const call of pending.values()) call.reject(err);
    pending.clear();
    closed(err);
  });
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, any>>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });

  const consoleEntries: ConsoleEntry[] = [];
  const requests: string[] = [];
  let loaded!: () => void;
  const loadEvent = new Promise<void>((resolve) => (loaded = resolve));
  listeners.push((m) => {
    const p = m.params ?? {};
    if (m.method === 'Runtime.consoleAPICalled') {
      const text = (p.args as { value?: unknown; description?: string }[]).map((a) => (a.value !== undefined ? String(a.value) : (a.description ?? ''))).join(' ');
      consoleEntries.push({ level: String(p.type), text });
    } else if (m.method === 'Runtime.exceptionThrown') {
      const d = p.exceptionDetails as { text: string; exception?: { description?: string } };
      consoleEntries.push({ level: 'exception', text: d.exception?.description ?? d.text });
    } else if (m.method === 'Log.entryAdded') {
      consoleEntries.push({ level: String(p.entry.level), text: `${p.entry.text}${p.entry.url ? ` (${p.entry.url})` : ''}` });
    } else if (m.method === 'Network.requestWillBeSent') {
      requests.push(String(p.request.url));
    } else if (m.method === 'Page.loadEventFired') {
      loaded();
    }
  });

  try {
    for (const domain of ['Runtime', 'Log', 'Network', 'Page']) await send(`${domain}.enable`);
    const width = opts.width ?? 1280;
    await send('Emulation.setDeviceMetricsOverride', { width, height: 800, deviceScaleFactor: 1, mobile: false });
    const navigation = await send('Page.navigate', { url: pathToFileURL(file).href });
    if (navigation.errorText) throw new Error(`Chromium could not open ${file}: ${navigation.errorText}`);
    await Promise.race([loadEvent, whenClosed]);
    // Let late scripts and console messages arrive before reading the page.
    await send('Runtime.evaluate', { expression: 'new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50)))', awaitPromise: true });
    let value: unknown = null;
    if (opts.expression) {
      const evaluated = await send('Runtime.evaluate', { expression: opts.expression, returnByValue: true, awaitPromise: true });
      if (evaluated.exceptionDetails) throw new Error(`evaluating in the page failed: ${evaluated.exceptionDetails.exception?.description ?? evaluated.exceptionDetails.text}`);
      value = evaluated.result?.value ?? null;
    }
    const metrics = await send('Page.getLayoutMetrics');
    const size = (metrics.cssContentSize ?? metrics.contentSize) as { width: number; height: number };
    const height = Math.ceil(size.height);
    if (opts.screenshot) {
      await send('Emulation.setDeviceMetricsOverride', { width, height: Math.min(height, 16_000), deviceScaleFactor: 1, mobile: false });
      const shot = await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
      await writeFile(opts.screenshot, Buffer.from(String(shot.data), 'base64'));
    }
    const errors = consoleEntries.filter((e) => ['error', 'assert', 'exception'].includes(e.level));
    return { console: consoleEntries, errors, requests, value, width: Math.ceil(size.width), height };
  } finally {
    ws.close();
  }
}

// Child mode (see inspectInChild): `node --experimental-websocket --import tsx infra/chromium.ts '{"file":...,"opts":...}'`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { file, opts } = JSON.parse(process.argv[2] ?? '{}') as { file: string; opts: InspectOptions };
  inspectInProcess(file, opts).then(
    (result) => process.stdout.write(JSON.stringify(result)),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
