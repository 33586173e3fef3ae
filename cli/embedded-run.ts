import fs from 'node:fs';
import path from 'node:path';
import type { RunConfig } from '../lib/config.ts';
import { startDevServer } from '../lib/dev-server.ts';
import { createWorkers } from '../workers/create-workers.ts';
import { submitRun } from './submit-run.ts';

/**
 * The embedded default: a local Temporal dev server whose state lives under the output folder,
 * in-process workers for both queues, and the run itself. Killed half-way, the same command
 * restarts the server on the same state and continues the same workflow.
 */
export async function embeddedRun(config: RunConfig, options: { quiet?: boolean; onServer?: (uiUrl: string) => void }) {
  const stateDir = path.join(config.out, '.tessera', 'temporal');
  fs.mkdirSync(stateDir, { recursive: true });
  const server = await startDevServer({ dbFile: path.join(stateDir, 'state.db') });
  options.onServer?.(server.uiUrl);
  let workers;
  try {
    workers = await createWorkers({ address: server.address, queues: ['cpu', 'inference'] });
  } catch (error) {
    await server.stop();
    throw error;
  }
  const running = workers.run();
  const stop = async () => {
    workers.shutdown();
    await running.catch(() => {});
    await server.stop();
  };
  const onSignal = () => {
    process.stderr.write('\ntessera: interrupted; stopping. Run the same command again to resume.\n');
    void stop().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await Promise.race([
      submitRun(config, { address: server.address, quiet: options.quiet }),
      running.then(() => {
        throw new Error('the in-process worker stopped before the run finished');
      }),
    ]);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
  }
}
