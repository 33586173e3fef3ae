import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunConfig } from '../lib/core/run-config.ts';
import { killLeftoverServers, startDevServerOnOwnState, type DevServerProcess } from '../lib/dev/dev-server.ts';
import { errorMessage, InputError } from '../lib/core/errors.ts';
import { acquireRunLease, leaseHolder, onThisMachine, type RunLease } from '../lib/run-folder/lease.ts';
import { RunOutcomeSchema, type RunOutcome } from '../lib/run-folder/records.ts';
import type { TesseraWorkers } from '../workers/create-workers.ts';
import type { WorkflowCode } from '../workers/workflow-bundle.ts';
import type { RuntimeOptions } from '../workers/runtime.ts';
import {
  assertOutputApartFromInputs,
  makeFolders,
  outputFolderError,
  outputFolderRefusal,
} from '../lib/run-folder/output-folder.ts';
import { runLayout, type RunLayout } from '../lib/run-folder/layout.ts';
import { localTarget } from '../lib/temporal/connection.ts';
import { RunCancelledError, RunFailedError } from './run-errors.ts';
import { writeRecordSync } from '../lib/run-folder/records-io.ts';
import { workflowIdForOutput } from './workflow-id.ts';
import type { FinishedRun } from '../lib/run/finished-run.ts';
import { summaryOfFinishedRun } from '../lib/run/finished-summary.ts';
import type { RunSummary } from '../lib/core/run-summary.ts';
import { since, timed } from '../lib/core/timeline.ts';

/** Ctrl-C, kill, a closed terminal. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface EmbeddedRunOptions {
  quiet?: boolean;
  /** Show the SDK's and the workers' log entries on the terminal as well as in OUT/.tessera/tessera.log. */
  verbose?: boolean;
  /** Logging and metrics of the in-process workers (TESSERA_LOG_FORMAT, TESSERA_LOG_LEVEL, TESSERA_METRICS_ADDRESS). */
  runtime?: RuntimeOptions;
  /** The in-process worker's decode threads (TESSERA_DECODE_THREADS); half the cores when undefined. */
  decodeThreads?: number;
  onServer?: (uiUrl: string, logFile: string) => void;
}

/** What the run has started so far, stopped in reverse order. */
interface Parts {
  server?: DevServerProcess;
  workers?: TesseraWorkers;
  running?: Promise<void>;
  /** The run completed: nothing of it is left in the server but its history, already on disk. */
  completed?: boolean;
}

function say(line: string): void {
  process.stderr.write(`tessera: ${line}\n`);
}

async function stopParts(parts: Parts, lease: RunLease): Promise<void> {
  try {
    parts.workers?.shutdown();
    await timed('shutdown: workers', async () => parts.running?.catch(() => {}));
    // A completed run's server is killed rather than stopped: its graceful stop would add over a
    // second to every run, for nothing (the state file is consistent either way, and a run that
    // did not complete keeps the graceful stop).
    await timed('shutdown: dev server', async () => parts.server?.stop({ now: parts.completed }));
  } finally {
    lease.release();
  }
}

/**
 * SIGINT, SIGTERM, SIGHUP: the first stops gracefully (`graceful` exits when done), a second one
 * while stopping (an activity that does not end, a server slow to stop) kills at once and exits.
 * Either way the exit code is 128 + the signal's number, as a shell reports a death by it.
 * Returns the function that removes the handlers.
 */
function onStopSignals(actions: { graceful: (code: number) => void; immediate: () => void }): () => void {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = 128 + os.constants.signals[signal];
    if (interrupted) {
      say(`${signal} again: killing the local Temporal server and exiting now`);
      actions.immediate();
      process.exit(code);
    }
    interrupted = true;
    process.stderr.write(
      `\ntessera: ${signal}: stopping (a second signal stops at once). Run the same command again to resume.\n`,
    );
    actions.graceful(code);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  };
}

/** How an embedded run ended, for OUT/.tessera/outcome.json (status reads it once the run is gone). */
function outcomeOf(error: unknown): Pick<RunOutcome, 'outcome' | 'message'> {
  if (error instanceof RunCancelledError) return { outcome: 'cancelled', message: error.message };
  return { outcome: 'failed', message: errorMessage(error) };
}

/**
 * OUT/.tessera/outcome.json of this command's run, written at most once, and before the lease goes:
 * status then always finds either the live run or how it ended.
 */
class RunOutcomeRecord {
  readonly command = ['tessera', ...process.argv.slice(2)].join(' ');
  readonly startedAt = new Date().toISOString();
  private settled = false;

  constructor(
    private readonly config: RunConfig,
    private readonly layout: RunLayout,
  ) {}

  write(ended: Pick<RunOutcome, 'outcome' | 'message'>): void {
    if (this.settled) return;
    this.settled = true;
    const record = {
      ...ended,
      command: this.command,
      workflowId: workflowIdForOutput(this.config.out),
      startedAt: this.startedAt,
      endedAt: new Date().toISOString(),
      log: this.layout.log,
    };
    try {
      writeRecordSync(this.layout.outcome, RunOutcomeSchema, record);
    } catch (error) {
      say(`could not record how the run ended in ${this.layout.outcome}: ${errorMessage(error)}`);
    }
  }

  /** No outcome of ours to write: the folder is another run's now, or nothing ran (the finished run's stays). */
  forgo(): void {
    this.settled = true;
  }
}

/**
 * Before the lease or the server create anything in it: a folder tessera may not write into
 * (someone else's files, the inputs themselves) is refused untouched.
 */
async function refuseForeignFolder(layout: RunLayout): Promise<void> {
  try {
    await assertOutputApartFromInputs(layout);
    const refusal = await outputFolderRefusal(layout.out);
    if (refusal) throw new InputError(refusal);
  } catch (error) {
    if (error instanceof InputError) throw new RunFailedError(error.message);
    throw error;
  }
}

/**
 * The result of the same command on a finished folder whose inputs are unchanged: nothing to run
 * but the search stages it asks for, and the finished run's own outcome stays.
 */
async function finishedAlready(
  config: RunConfig,
  layout: RunLayout,
  outcome: RunOutcomeRecord,
  options: EmbeddedRunOptions,
): Promise<EmbeddedRunResult | undefined> {
  // No manifest, no finished run: a first run goes on to start its server without loading the check's modules.
  if (!fs.existsSync(layout.manifest)) return undefined;
  const { finishedRun } = await import('../lib/run/finished-run.ts');
  // A check that cannot be made (the model file gone, say) is left to the run, which reports it.
  const finished = await finishedRun(config, layout).catch((): FinishedRun => ({ finished: false }));
  if (finished.finished) {
    outcome.forgo();
    await searchStagesHere(config, options);
    return {
      summary: summaryOfFinishedRun(finished.manifest, layout),
      workflowId: finished.manifest.workflow.id,
      seconds: 0,
      finishedAt: finished.manifest.createdAt,
    };
  }
  if (finished.changed && !options.quiet)
    say(`${finished.changed}: running again (the vectors of unchanged images are reused)`);
  return undefined;
}

/**
 * `--index` / `--evaluate` on a finished folder: no workflow runs, so its search stages run here
 * (lib/search/finished-run-stages.ts), without extracting anything again. Loaded only then: a
 * plain run's start does not load usearch.
 */
async function searchStagesHere(config: RunConfig, options: EmbeddedRunOptions): Promise<void> {
  if (!config.index && !config.evaluate) return;
  const { searchStagesOfFinishedRun } = await import('../lib/search/finished-run-stages.ts');
  try {
    for (const line of await searchStagesOfFinishedRun(config)) if (!options.quiet) say(line);
  } catch (error) {
    // As the workflow's stage would fail: no index to build, or one that cannot fit in memory.
    if (error instanceof InputError) throw new RunFailedError(error.message);
    throw error;
  }
}

/** A Temporal server that an earlier run on this folder left running (on its state file) is stopped. */
async function stopLeftoverServers(layout: RunLayout, lease: RunLease): Promise<void> {
  const recorded = lease.previous && onThisMachine(lease.previous) ? lease.previous.server?.pid : undefined;
  for (const pid of await killLeftoverServers(layout.temporalState, recorded)) {
    say(`stopped the Temporal server (pid ${pid}) that an earlier run on this folder left running`);
  }
}

/** The local Temporal server on the folder's own state file, recorded in `parts` and the lease once spawned. */
async function startServer(
  layout: RunLayout,
  parts: Parts,
  lease: RunLease,
  outcome: RunOutcomeRecord,
  options: EmbeddedRunOptions,
  onSpawn: () => void,
): Promise<DevServerProcess> {
  const dbFile = layout.temporalState;
  makeFolders(path.dirname(dbFile), layout.out);
  fs.appendFileSync(layout.log, `${outcome.startedAt} ---- ${outcome.command} (pid ${process.pid})\n`);
  const server = await startDevServerOnOwnState(
    {
      dbFile,
      onSpawn: (spawned) => {
        parts.server = spawned;
        lease.recordServer({ address: spawned.address, uiUrl: spawned.uiUrl, pid: spawned.pid, dbFile });
        onSpawn();
      },
    },
    say,
  ).catch((error: unknown) => {
    throw outputFolderError(layout.out, error); // e.g. its log file on a disk that just filled up
  });
  options.onServer?.(server.uiUrl, layout.log);
  return server;
}

/** What the run needs besides its server, none of which the server needs: loaded while it starts. */
interface RunParts {
  createWorkers: typeof import('../workers/create-workers.ts').createWorkers;
  openRun: typeof import('./open-run.ts');
  submitRun: typeof import('./submit-run.ts').submitRun;
  /** The build's prebuilt workflow bundle when current, else workflows/ bundled now. */
  workflowCode: WorkflowCode;
}

/**
 * The Temporal SDK, onnxruntime, sharp, DuckDB and the rest of the workers' modules (~1 s of CPU),
 * and the workflow code: this module loads none of them, so that the dev server can start first.
 */
async function loadRunParts(): Promise<RunParts> {
  const [{ createWorkers }, { workflowCode }, openRun, { submitRun }] = await Promise.all([
    import('../workers/create-workers.ts'),
    import('../workers/workflow-bundle.ts'),
    import('./open-run.ts'),
    import('./submit-run.ts'),
  ]);
  return { createWorkers, openRun, submitRun, workflowCode: await workflowCode() };
}

/** In-process workers for both queues: this server runs only this command's run. */
async function startWorkers(
  config: RunConfig,
  layout: RunLayout,
  server: DevServerProcess,
  options: EmbeddedRunOptions,
  { createWorkers, openRun, workflowCode }: RunParts,
) {
  const open = openRun.openRunFolders(
    await timed('workers: open run config', () => openRun.openRunConfig(localTarget(server.address), layout.out)),
  );
  return createWorkers({
    target: localTarget(server.address),
    queues: ['cpu', 'inference'],
    // Its workers serve exactly the folders this command names: its data, its output, and the
    // earlier outputs it reuses; and those of the folder's open run, which an earlier command
    // named, until the attach check has answered (open-run.ts).
    allowRoots: [config.data, layout.out, ...config.reuse, ...open.roots],
    allowModelFiles: [...new Set([layout.model, ...open.modelFiles])],
    followLinks: true,
    runtime: { ...options.runtime, logFile: layout.log, echo: options.verbose },
    decodeThreads: options.decodeThreads,
    warmFor: config,
    workflowCode,
  });
}

export interface EmbeddedRunResult {
  summary?: RunSummary;
  workflowId: string;
  seconds: number;
  finishedAt?: string;
}

/**
 * The embedded default: a local Temporal dev server whose state lives under the output folder,
 * in-process workers for both queues, and the run itself. Killed half-way, the same command
 * restarts the server on the same state and continues the same workflow. The folder's lease is
 * taken before anything else, so a second run on the same folder is refused instead of starting
 * a second server on the same state file.
 */
export async function embeddedRun(config: RunConfig, options: EmbeddedRunOptions): Promise<EmbeddedRunResult> {
  since('start → embedded run (node, flags, modules)');
  const layout = runLayout(config);
  const outcome = new RunOutcomeRecord(config, layout);
  const { command } = outcome;
  await timed('output folder checks', () => refuseForeignFolder(layout));
  const parts: Parts = {};
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= stopParts(parts, lease));
  /** Ends the process once everything is stopped: an interrupted run's pending calls to its own server would never settle. */
  const exitAfterStop = (code: number, ended?: Pick<RunOutcome, 'outcome' | 'message'>) => {
    if (ended) outcome.write(ended);
    void stop().then(
      () => process.exit(code),
      (error: unknown) => {
        say(`while stopping: ${errorMessage(error)}`);
        process.exit(code);
      },
    );
  };
  const lease = acquireRunLease(layout.out, {
    owner: command,
    onLost: (holder) => {
      // Only when this process stalled past the lease's TTL and a run on another machine took the folder.
      say(
        `lost the lease on ${layout.out} to ${leaseHolder(holder)}; stopping so that two runs never share the folder`,
      );
      outcome.forgo(); // the folder is another run's now: its outcome is not ours to write
      exitAfterStop(1);
    },
  });
  const removeSignalHandlers = onStopSignals({
    graceful: (code) =>
      exitAfterStop(code, {
        outcome: 'interrupted',
        message: `stopped by a signal; the same command resumes it: ${command}`,
      }),
    immediate: () => {
      outcome.write({
        outcome: 'interrupted',
        message: `stopped at once by a second signal; the same command resumes it: ${command}`,
      });
      parts.server?.kill();
      lease.release();
    },
  });

  try {
    await timed('stop leftover servers', () => stopLeftoverServers(layout, lease));
    const finished = config.force
      ? undefined
      : await timed('finished-run check', () => finishedAlready(config, layout, outcome, options));
    if (finished) return finished;
    // The dev server needs none of the modules the workers load: it is spawned first, and they load
    // while it starts (its own process, so on another core where there is one).
    let spawned!: () => void;
    const serverSpawned = new Promise<void>((resolve) => (spawned = resolve));
    const [server, run] = await Promise.all([
      timed('dev server start', () => startServer(layout, parts, lease, outcome, options, spawned)),
      serverSpawned.then(() => timed('run modules and workflow code', loadRunParts)),
    ]);
    parts.workers = await timed('workers', () => startWorkers(config, layout, server, options, run));
    const running = (parts.running = parts.workers.run());
    const result = await Promise.race([
      timed('workflow (submit to result)', () =>
        run.submitRun(config, { target: localTarget(server.address), quiet: options.quiet }),
      ),
      running.then(() => {
        throw new Error('the in-process worker stopped before the run finished');
      }),
    ]);
    outcome.write({ outcome: 'completed', message: null });
    parts.completed = true;
    return result;
  } catch (error) {
    outcome.write(outcomeOf(error));
    if (error instanceof RunFailedError) error.log = layout.log;
    throw error;
  } finally {
    // After a signal this is the same stop the signal started, which then exits the process.
    await timed('shutdown', stop);
    removeSignalHandlers();
  }
}
