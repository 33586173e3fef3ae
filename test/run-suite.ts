/**
 * Runs test files with node's built-in runner against one Temporal dev server that they share.
 *
 *     node --import tsx test/run-suite.ts [--concurrency N] [FILE | FOLDER]...
 *
 * Two files run at once unless --concurrency says otherwise: the suite targets 2-core machines,
 * and most integration files spend much of their time waiting (for the tessera processes they
 * start, for servers, for heartbeat timeouts), so two at a time keep both cores busy. Each file
 * has a process, a temp folder and (on the shared server) a namespace of its own. The files of
 * test/fidelity/ run one at a time: they run Python (PyTorch exports, pandas) beside tessera and
 * were not tried two at once.
 *
 * A folder stands for its *.test.ts files; none given: every folder of test/ but test/fidelity/
 * (`npm test`: unit, integration and workflow tests; `npm run test:fidelity` names test/fidelity).
 *
 * Node 20's runner has no global setup, so this starts the server, hands its address to every
 * test process in SHARED_TEMPORAL_ENV (startTemporal then registers a namespace of its own per
 * harness), runs `node --test` over the files (its report and summary lines unchanged), stops the
 * server and exits with the runner's status. It also bundles the workflow code once for them all
 * (WORKFLOW_BUNDLE_ENV). Tests that must own a server (they kill, restart or
 * start it themselves) still start their own. The server's log goes to .test-artifacts/, and so
 * does each file's time (test-durations.txt, test/support/file-durations.ts).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevServer } from '../lib/dev/dev-server.ts';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../lib/core/project-paths.ts';
import { quietBundlerLogger } from '../workers/create-workers.ts';
import { SHARED_TEMPORAL_ENV, TEST_ARTIFACTS, WORKFLOW_BUNDLE_ENV } from './support/environment.ts';
import { fileDurationsReporter } from './support/file-durations.ts';

const TEST_ROOT = path.dirname(fileURLToPath(import.meta.url));
/** Files run at once when --concurrency is not given (see above). */
const DEFAULT_CONCURRENCY = 2;
const FIDELITY = path.join(TEST_ROOT, 'fidelity');
/** Suites with a command of their own, left out when no folder is named. */
const NOT_BY_DEFAULT = ['fidelity', 'fixtures', 'support'];

function testFiles(paths: string[]): string[] {
  const folders =
    paths.length > 0
      ? paths
      : fs
          .readdirSync(TEST_ROOT, { withFileTypes: true })
          .filter((entry) => entry.isDirectory() && !NOT_BY_DEFAULT.includes(entry.name))
          .map((entry) => path.join(TEST_ROOT, entry.name));
  return folders.flatMap((entry) =>
    fs.statSync(entry).isDirectory()
      ? fs
          .readdirSync(entry)
          .filter((name) => name.endsWith('.test.ts'))
          .sort()
          .map((name) => path.join(entry, name))
      : [entry],
  );
}

function parseArguments(argv: string[]): { concurrency: number; files: string[] } {
  const at = argv.indexOf('--concurrency');
  const files = testFiles(at === -1 ? argv : [...argv.slice(0, at), ...argv.slice(at + 2)]);
  const fidelity = files.some((file) => path.resolve(file).startsWith(FIDELITY + path.sep));
  const concurrency = at !== -1 ? Number(argv[at + 1]) : fidelity ? 1 : DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || files.length === 0) {
    process.stderr.write('usage: node --import tsx test/run-suite.ts [--concurrency N] [FILE | FOLDER]...\n');
    process.exit(2);
  }
  return { concurrency, files };
}

async function main(): Promise<number> {
  const { concurrency, files } = parseArguments(process.argv.slice(2));
  // This run's SDK logs only (startTemporal appends to them).
  fs.rmSync(path.join(TEST_ARTIFACTS, 'temporal-sdk'), { recursive: true, force: true });
  fs.mkdirSync(TEST_ARTIFACTS, { recursive: true });
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-suite-temporal-'));
  // The workflow code bundled once here rather than once per test file (seconds each).
  const [server, bundle] = await Promise.all([
    startDevServer({
      dbFile: path.join(state, 'state.db'),
      logFile: path.join(TEST_ARTIFACTS, 'shared-temporal-server.log'),
    }),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger }),
  ]);
  const bundlePath = path.join(state, 'workflow-bundle.js');
  fs.writeFileSync(bundlePath, bundle.code);
  process.stdout.write(`test/run-suite.ts: one Temporal dev server for the suite at ${server.address}\n`);
  const runner = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${concurrency}`,
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      ...fileDurationsReporter(state, path.join(TEST_ARTIFACTS, 'test-durations.txt')),
      ...files,
    ],
    {
      stdio: 'inherit',
      env: { ...process.env, [SHARED_TEMPORAL_ENV]: server.address, [WORKFLOW_BUNDLE_ENV]: bundlePath },
    },
  );
  // Ctrl-C reaches the runner through the terminal's process group; the server goes when it has ended.
  const forward = (signal: NodeJS.Signals) => runner.kill(signal);
  process.on('SIGTERM', forward);
  process.on('SIGINT', () => undefined);
  const status = await new Promise<number>((resolve) =>
    runner.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + os.constants.signals[signal] : 1))),
  );
  await server.stop();
  fs.rmSync(state, { recursive: true, force: true });
  return status;
}

process.exitCode = await main();
