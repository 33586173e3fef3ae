import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { startDevServer } from '../../lib/dev/dev-server.ts';
import { DEFAULT_MODEL, PROJECT_ROOT, temporalBinary, WORKFLOWS_PATH } from '../../lib/core/project-paths.ts';
import { localTarget, type TemporalTarget } from '../../lib/temporal/connection.ts';
import { bundleWorkflowCode } from '@temporalio/worker';
import { createWorkers, quietBundlerLogger, type TesseraWorkers } from '../../workers/create-workers.ts';
import { installRuntime } from '../../workers/runtime.ts';

export const PYTHON = path.join(PROJECT_ROOT, '.venv-py', 'bin', 'python');

/** What a test needs from setup: the committed default model, the Temporal CLI, or the torch environment. */
export type SetupNeed = 'model' | 'temporal' | 'python';

const SETUP_FILES: Record<SetupNeed, { file: () => string; setup: string }> = {
  model: { file: () => DEFAULT_MODEL, setup: 'git checkout models/ (the default model is committed)' },
  temporal: { file: temporalBinary, setup: '`npm run setup` (npm test does it first)' },
  python: { file: () => PYTHON, setup: '`npm run setup:export` (npm run test:fidelity does it first)' },
};

/** Fails loudly (never skips) when setup did not provide what this test needs (none named: model and Temporal CLI). */
export function requireSetup(...needs: SetupNeed[]): void {
  const missing = (needs.length > 0 ? needs : (['model', 'temporal'] as const)).filter(
    (need) => !fs.existsSync(SETUP_FILES[need].file()),
  );
  if (missing.length > 0)
    throw new Error(
      missing.map((need) => `missing ${SETUP_FILES[need].file()}: run ${SETUP_FILES[need].setup}`).join('; '),
    );
}

export { tempDir } from './temp-dir.ts';

/** Set by test/run-suite.ts: the address of the one dev server every integration file shares. */
export const SHARED_TEMPORAL_ENV = 'TESSERA_TEST_TEMPORAL_ADDRESS';

/** Set by test/run-suite.ts: a file with the workflow code bundled once for every test process. */
export const WORKFLOW_BUNDLE_ENV = 'TESSERA_TEST_WORKFLOW_BUNDLE';

/** Where tests write what no one reads unless something fails (gitignored). */
export const TEST_ARTIFACTS = path.join(PROJECT_ROOT, '.test-artifacts');

/** This test file's name without `.test.ts` (node --test runs each file as its own process's entry point). */
function testFileStem(): string {
  return path.basename(process.argv[1] ?? 'test', '.ts').replace(/\.test$/, '');
}

/**
 * The Temporal SDK's log of this test process goes to `.test-artifacts/temporal-sdk/<file>.log`,
 * not to the test report: a failure's context is there, the report keeps to results. Must run
 * before the process's first worker or native connection (the runtime is installed once).
 */
export function logSdkToFile(): string {
  const file = path.join(TEST_ARTIFACTS, 'temporal-sdk', `${testFileStem()}.log`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  installRuntime({ logFile: file, level: 'INFO' });
  return file;
}

export interface TemporalHarness {
  /** The frontend's address (the shared server's, or this file's own). */
  server: { address: string };
  /** Address and this harness's own namespace, for submitRun and the like. */
  target: TemporalTarget;
  /** The same for a CLI: `--address A --namespace N` (tessera's and the temporal CLI's flags). */
  cliFlags: string[];
  client: Client;
  connection: Connection;
  workers: TesseraWorkers;
  /** Starts polling when the harness was created with `holdWorkers` (a no-op otherwise). */
  releaseWorkers(): void;
  stop(): Promise<void>;
}

/**
 * A namespace of its own on the shared server: task queues, workflow ids and schedules are per
 * namespace, so files sharing the server never take each other's tasks. Registration is visible at
 * once on a dev server (checked: a workflow starts in the new namespace on the first try).
 */
async function ownNamespace(address: string, dir: string): Promise<string> {
  const namespace = `test-${testFileStem()}-${path.basename(dir)}`.replace(/[^\w.-]/g, '-');
  const connection = await Connection.connect({ address });
  try {
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs('1 day'),
    });
  } finally {
    await connection.close();
  }
  return namespace;
}

/** A Temporal server for one test file, and the namespace it works in. */
export interface TestServer {
  address: string;
  namespace: string;
  /** Stops the file's own server; the shared one outlives the file. */
  stop(): Promise<void>;
}

/**
 * Under test/run-suite.ts the one server all files share, in a namespace of `dir`'s own;
 * otherwise a dev server of this file's own, with its state in `dir`.
 */
export async function testServer(dir: string): Promise<TestServer> {
  const shared = process.env[SHARED_TEMPORAL_ENV];
  if (shared) return { address: shared, namespace: await ownNamespace(shared, dir), stop: async () => {} };
  const own = await startDevServer({ dbFile: path.join(dir, 'temporal', 'state.db') });
  return { address: own.address, namespace: 'default', stop: () => own.stop() };
}

/** The workflow code for a Worker: the bundle test/run-suite.ts made once for all files, or one of this process's own. */
export async function workflowBundle(): Promise<{ codePath: string } | { code: string }> {
  const bundled = process.env[WORKFLOW_BUNDLE_ENV];
  if (bundled) return { codePath: bundled };
  return await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
}

/**
 * tessera's workers on both queues against a real dev server: under test/run-suite.ts the one all
 * files share (in a namespace of this harness's own), otherwise one of its own with its state in
 * the test's folder. The workers serve `allowRoots`: by default the test's own folder and the
 * flowers dataset some tests read. `holdWorkers` leaves them idle until `releaseWorkers()`, so a
 * test can hold a run open (started, not yet picked up) for as long as it needs, rather than
 * racing a run that may already be done.
 */
export async function startTemporal(
  dir: string,
  allowRoots: readonly string[] = [dir, FLOWERS_DIR],
  options: { holdWorkers?: boolean } = {},
): Promise<TemporalHarness> {
  logSdkToFile();
  const server = await testServer(dir);
  const { address } = server;
  const target: TemporalTarget = { ...localTarget(address), namespace: server.namespace };
  const bundled = process.env[WORKFLOW_BUNDLE_ENV];
  const workers = await createWorkers({
    target,
    queues: ['cpu', 'inference'],
    allowRoots,
    workflowBundle: bundled ? { codePath: bundled } : undefined,
  });
  let running: Promise<void> | undefined;
  const releaseWorkers = () => {
    running ??= workers.run();
  };
  if (!options.holdWorkers) releaseWorkers();
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: target.namespace });
  return {
    server: { address },
    target,
    cliFlags: ['--address', address, '--namespace', target.namespace],
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
