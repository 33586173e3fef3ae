import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startDevServer, type DevServer } from '../../lib/dev/dev-server.ts';
import { DEFAULT_MODEL, PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { localTarget } from '../../lib/temporal/connection.ts';
import { createWorkers, type TesseraWorkers } from '../../workers/create-workers.ts';

export const PYTHON = path.join(PROJECT_ROOT, '.venv-py', 'bin', 'python');

/** Fails loudly (never skips) when `npm test`'s pretest step did not provide what tests need. */
export function requireSetup(): void {
  const missing = [DEFAULT_MODEL, PYTHON].filter((file) => !fs.existsSync(file));
  if (missing.length > 0)
    throw new Error(`missing ${missing.join(', ')}: run \`npm run setup\` (npm test does it first)`);
}

export { tempDir } from './temp-dir.ts';

export interface TemporalHarness {
  server: DevServer;
  client: Client;
  connection: Connection;
  workers: TesseraWorkers;
  /** Starts polling when the harness was created with `holdWorkers` (a no-op otherwise). */
  releaseWorkers(): void;
  stop(): Promise<void>;
}

/**
 * A real dev server (state in a temp folder) with tessera's workers on both queues. The workers
 * serve `allowRoots`: by default the test's own folder and the flowers dataset some tests read.
 * `holdWorkers` leaves them idle until `releaseWorkers()`, so a test can hold a run open (started,
 * not yet picked up) for as long as it needs, rather than racing a run that may already be done.
 */
export async function startTemporal(
  dir: string,
  allowRoots: readonly string[] = [dir, FLOWERS_DIR],
  options: { holdWorkers?: boolean } = {},
): Promise<TemporalHarness> {
  const server = await startDevServer({ dbFile: path.join(dir, 'temporal', 'state.db') });
  const workers = await createWorkers({
    target: localTarget(server.address),
    queues: ['cpu', 'inference'],
    allowRoots,
  });
  let running: Promise<void> | undefined;
  const releaseWorkers = () => {
    running ??= workers.run();
  };
  if (!options.holdWorkers) releaseWorkers();
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  return {
    server,
    client,
    connection,
    workers,
    releaseWorkers,
    async stop() {
      await connection.close();
      releaseWorkers(); // a held worker still has to run to be shut down and release its threads
      workers.shutdown();
      await running;
      await server.stop();
    },
  };
}

/** The real photos of ../shared/data (17 flower classes × 20), or TESSERA_FLOWERS_DIR. */
export const FLOWERS_DIR =
  process.env.TESSERA_FLOWERS_DIR ?? path.resolve(PROJECT_ROOT, '..', 'shared', 'data', 'flowers17-mini');
