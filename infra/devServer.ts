import { spawn } from 'node:child_process';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { ensureTemporalBinary } from './temporalBinary.js';

/**
 * Lifecycle of the local Temporal dev server (`temporal server start-dev`), persisted in a SQLite
 * file under the data directory. A state file (pid, port) makes `lcrec server status|stop` work
 * from any later command.
 */
export interface ServerState {
  pid: number;
  address: string;
  port: number;
  dbFile: string;
  logFile: string;
  startedAt: string;
}

const HOST = '127.0.0.1';

function serverDir(home: string): string {
  return join(home, 'temporal');
}
function stateFile(home: string): string {
  return join(serverDir(home), 'server.json');
}

export async function serverStatus(home: string): Promise<ServerState | undefined> {
  let state: ServerState;
  try {
    state = JSON.parse(await readFile(stateFile(home), 'utf8')) as ServerState;
  } catch {
    return undefined;
  }
  if (isAlive(state.pid) && (await portAcceptsConnections(state.port))) return state;
  if (!isAlive(state.pid)) await rm(stateFile(home), { force: true }); // stale: the process is gone
  return undefined;
}

export interface StartOptions {
  /** gRPC port; default LCREC_TEMPORAL_PORT, else 7233 when free, else any free port. */
  port?: number;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Starts the server unless one is already running for this data directory; returns its state. */
export async function startServer(home: string, opts: StartOptions = {}): Promise<ServerState> {
  const running = await serverStatus(home);
  if (running) return running;
  const env = opts.env ?? process.env;
  const binary = await ensureTemporalBinary(env);
  const dir = serverDir(home);
  await mkdir(dir, { recursive: true });
  const port = opts.port ?? (env.LCREC_TEMPORAL_PORT ? Number(env.LCREC_TEMPORAL_PORT) : await preferredPort(7233));
  const dbFile = join(dir, 'temporal.db');
  const logFile = join(dir, 'server.log');
  const log = await open(logFile, 'a');
  const child = spawn(
    binary,
    ['server', 'start-dev', '--db-filename', dbFile, '--ip', HOST, '--port', String(port), '--headless', '--log-level', 'warn'],
    { detached: true, stdio: ['ignore', log.fd, log.fd] },
  );
  await log.close();
  child.unref();
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const state: ServerState = {
    pid: child.pid!,
    address: `${HOST}:${port}`,
    port,
    dbFile,
    logFile,
    startedAt: new Date().toISOString(),
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (!(await serverAnswers(state.address))) {
    if (exited !== undefined || Date.now() > deadline) {
      if (exited === undefined) process.kill(state.pid, 'SIGKILL');
      const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n');
      throw new Error(`the Temporal dev server did not start on ${state.address} (log ${logFile}):\n${tail}`);
    }
    await sleep(250);
  }
  await writeFile(stateFile(home), JSON.stringify(state, null, 2));
  return state;
}

/** Stops the server of this data directory; returns false when none was running. */
export async function stopServer(home: string): Promise<boolean> {
  const state = await serverStatus(home);
  if (!state) return false;
  process.kill(state.pid, 'SIGTERM');
  for (let i = 0; i < 100 && isAlive(state.pid); i++) await sleep(100);
  if (isAlive(state.pid)) process.kill(state.pid, 'SIGKILL');
  await rm(stateFile(home), { force: true });
  return true;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function serverAnswers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

function portAcceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** The wanted port when it is free, else one the OS picks. */
async function preferredPort(wanted: number): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, HOST, () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : undefined));
      });
    });
  return (await tryListen(wanted)) ?? (await tryListen(0))!;
}
