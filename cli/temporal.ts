import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { ArtifactStore } from '../src/store/artifactStore.js';
import { openArtifactStore } from '../src/store/openStore.js';
import { serverStatus, startServer, stopServer } from '../infra/devServer.js';
import { artifactRoot, lcrecHome } from '../infra/paths.js';
import { connectWorker, createWorkers, runWorkersUntil } from '../infra/worker.js';

/**
 * How this command reaches Temporal. With TEMPORAL_ADDRESS it only talks to that cluster (its
 * workers run `lcrec worker`); without, it uses the local dev server of the data directory,
 * starting it when needed, and runs the worker in this process.
 */
export interface Session {
  client: Client;
  address: string;
  namespace: string;
  embedded: boolean;
  /** Runs in-process workers (embedded mode only) until `until` settles. */
  serve<T>(until: Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function namespaceOf(env: NodeJS.ProcessEnv = process.env): string {
  return env.TEMPORAL_NAMESPACE ?? 'default';
}

const stores = new Map<string, ArtifactStore>();

/** The artifact store of LCREC_ARTIFACTS (a directory or s3://bucket/prefix), one per root and process. */
export function store(env: NodeJS.ProcessEnv = process.env): ArtifactStore {
  const root = artifactRoot(env);
  const cacheDir = join(lcrecHome(env), 'cache');
  const id = `${root}\0${cacheDir}`;
  let opened = stores.get(id);
  if (!opened) {
    opened = openArtifactStore(root, { cacheDir, env });
    stores.set(id, opened);
  }
  return opened;
}

export async function openSession(opts: { keepServer?: boolean; startServer?: boolean } = {}): Promise<Session | undefined> {
  const namespace = namespaceOf();
  const remote = process.env.TEMPORAL_ADDRESS;
  const home = lcrecHome();
  let address: string;
  let startedHere = false;
  if (remote) {
    address = remote;
  } else {
    const running = await serverStatus(home);
    if (!running && opts.startServer === false) return undefined;
    if (!running) process.stderr.write(`lcrec: starting the local Temporal dev server (data in ${home}/temporal)\n`);
    address = (running ?? (await startServer(home))).address;
    startedHere = !running;
  }
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  return {
    client,
    address,
    namespace,
    embedded: !remote,
    async serve<T>(until: Promise<T>): Promise<T> {
      if (remote) return until;
      const workerConnection = await connectWorker(address);
      try {
        const workers = await createWorkers({
          connection: workerConnection,
          namespace,
          queues: ['cpu', 'gpu'],
          deps: { store: store(), home },
        });
        return await runWorkersUntil(workers, until);
      } finally {
        await workerConnection.close();
      }
    },
    async close() {
      await connection.close();
      if (startedHere && !opts.keepServer) await stopServer(home);
    },
  };
}
