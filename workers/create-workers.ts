import { Stores } from '../lib/storage/open-store.ts';
import { isUri } from '../lib/core/uri.ts';
import type { Duration } from '@temporalio/common';
import {
  NativeConnection,
  Runtime,
  Worker,
  type WorkerInterceptors,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { createCpuActivities } from '../activities/cpu-activities.ts';
import { createSearchActivities } from '../activities/search-activities.ts';
import { createInferenceActivities } from '../activities/inference-activities.ts';
import { sessionSpecFor, type SessionTuning } from '../lib/extract/session-spec.ts';
import type { RunConfig } from '../lib/core/run-config.ts';
import { resolveWorkerRoots, type WorkerRoots } from '../lib/run-folder/confinement.ts';
import { connectionOptions, type TemporalTarget } from '../lib/temporal/connection.ts';
import { DecodeThreads } from '../lib/extract/decode-threads.ts';
import { InferenceEngines } from '../lib/inference/engine.ts';
import { sha256File } from '../lib/core/hashing.ts';
import { runLayout } from '../lib/run-folder/layout.ts';
import { FOLLOWING_COMPACTION_QUEUE, TASK_QUEUES, type QueueKind } from '../lib/temporal/task-queues.ts';
import { NextShardSlots, tunerWithActivitySlots } from './next-shard-slots.ts';
import { installRuntime, type RuntimeOptions } from './runtime.ts';
import { workflowCode, type WorkflowCode } from './workflow-bundle.ts';
import sharp from 'sharp';
import { timed, timelineOn } from '../lib/core/timeline.ts';

const FOLLOWING_COMPACTION_SLOTS = 8;

export interface TesseraWorkersOptions {
  /** The cluster (lib/temporal/connection.ts: address, namespace, TLS, API key). */
  target: TemporalTarget;
  queues: readonly QueueKind[];
  /**
   * Folders whose files runs may use (data, out, model; tessera's own models folder is added for
   * the model). Required: run configs come from anyone who can reach the Temporal frontend.
   */
  allowRoots: readonly string[];
  /** Model files this worker may open besides those under its roots (the embedded run's model). */
  allowModelFiles?: readonly string[];
  /**
   * The embedded run's workers: the CSV, the image folder and the images may be links to anywhere,
   * since the command itself named the data. A worker serving others keeps them inside its roots.
   */
  followLinks?: boolean;
  /**
   * Shards one inference worker runs at once. Undefined: one, and the next taken in its tail
   * (next-shard-slots.ts); one is enough to keep the session busy, because each shard overlaps
   * decoding with inference. A number N: exactly N at once, none taken early.
   */
  inferenceConcurrency?: number;
  /** Threads that read and decode images (lib/extract/decode-threads.ts); half the cores when undefined. */
  decodeThreads?: number;
  cpuConcurrency?: number;
  intraOpThreads?: number;
  cpuMicroBatch?: number;
  /**
   * On shutdown (SIGTERM), how long running activities may go on before they are cancelled
   * (ms-format, e.g. '5m'; `tessera worker` defaults to 5m). 0, the default here (an interrupted
   * embedded run), cancels them at once: they stop at the next batch and remove their temporary
   * files, and the shard is redone elsewhere.
   */
  shutdownGraceTime?: string;
  /**
   * The workflow code already bundled (the embedded run loads it while its server starts; the test
   * suite bundles it once for all its processes); when undefined, the build's prebuilt bundle if it
   * is current, else workflows/ bundled now (workflow-bundle.ts).
   */
  workflowBundle?: WorkflowBundleOption;
  /** The workflow code as workflowCode() loaded it (the embedded run loads it while its server starts). */
  workflowCode?: WorkflowCode;
  /** Log format and level, metrics endpoint (process-wide; the first worker of a process sets them). */
  runtime?: RuntimeOptions;
  /**
   * The run this process is started for (the embedded run): its model's session loads while the
   * workers are set up, before the workflow starts, rather than beside preflight.
   */
  warmFor?: RunConfig;
}

export interface TesseraWorkers {
  /** Resolves when every worker has stopped (after shutdown(), or on a fatal error). */
  run(): Promise<void>;
  shutdown(): void;
}

/**
 * The process's Temporal workers: `cpu` runs the workflow and the CPU activities (and, on a queue
 * of its own, the compactions that follow extraction), `inference` runs extractShard with this
 * process's single ONNX session per model.
 */
export async function createWorkers(options: TesseraWorkersOptions): Promise<TesseraWorkers> {
  // Resolved before connecting: a bad root stops the worker before it takes any task.
  const roots = await timed('workers: resolve roots', () =>
    resolveWorkerRoots(options.allowRoots, options.allowModelFiles, { followLinks: options.followLinks }),
  );
  installRuntime(options.runtime);
  // Every image is decoded once: libvips' operation cache only costs here (~5–10 % of decode CPU).
  sharp.cache(false);
  const connection = await timed('workers: connect', () => NativeConnection.connect(connectionOptions(options.target)));
  const inference = startInference(options);
  // The process's object-store client and its local copies (a model in a bucket), shared by its activities.
  const stores = new Stores();
  const closeAll = async () => {
    stores.close();
    await inference.engines.closeAll();
    await inference.decoders.close();
    await connection.close();
  };
  const on: WorkerPlace = {
    connection,
    namespace: options.target.namespace,
    // Cancellation reaches an activity only in a heartbeat's reply, and the SDK otherwise sends
    // them as rarely as 0.8 × heartbeatSeconds: one per second makes `tessera cancel` prompt.
    common: {
      maxHeartbeatThrottleInterval: '1 second',
      defaultHeartbeatThrottleInterval: '1 second',
      shutdownGraceTime: (options.shutdownGraceTime ?? 0) as Duration,
      ...(timelineOn ? { interceptors: activityPhases } : {}),
    },
  };
  // The queues' workers are created at once: each registers with the server (a round trip), and
  // the workflow worker meanwhile starts its workflow thread on the bundle. The bundle comes first:
  // workflow code that does not bundle fails the worker before any of its workers exists.
  const creating: Promise<Worker[]>[] = [];
  if (options.queues.includes('cpu')) {
    const bundle = await ownWorkflowCode(options).catch(async (error: unknown) => {
      await closeAll();
      throw error;
    });
    // One process with both queues: preflight has recorded the run's model, and its session (unless
    // warmFor loaded it already) loads beside preflight, split and plan, not in the first shard.
    const warmInference = options.queues.includes('inference') ? inference.warm : undefined;
    const activities = {
      ...createCpuActivities(roots, { warmInference, stores }),
      ...createSearchActivities(roots),
    };
    creating.push(...createCpuWorkers(on, options, bundle, activities));
  }
  if (options.queues.includes('inference'))
    creating.push(createInferenceWorker(on, options, { ...inference, stores }, roots).then((worker) => [worker]));
  const settled = await timed('workers: create', () => Promise.allSettled(creating));
  const workers = settled.flatMap((result) => (result.status === 'fulfilled' ? result.value : []));
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed) {
    // A worker created beside the one that failed still holds the connection, which then refuses
    // to close: the failure that matters is the first.
    await closeAll().catch(() => undefined);
    throw failed.reason;
  }

  return {
    async run() {
      try {
        await Promise.all(workers.map((worker) => worker.run()));
      } finally {
        await closeAll();
      }
    },
    shutdown() {
      for (const worker of workers) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
      }
    },
  };
}

/** Where the workers poll, and the settings every one of them shares. */
interface WorkerPlace {
  connection: NativeConnection;
  namespace: string;
  common: {
    maxHeartbeatThrottleInterval: string;
    defaultHeartbeatThrottleInterval: string;
    shutdownGraceTime: Duration;
    interceptors?: WorkerInterceptors;
  };
}

/** With TESSERA_TIMELINE, each activity this process runs is a phase of its timeline (lib/core/timeline.ts). */
const activityPhases: WorkerInterceptors = {
  activity: [
    (context) => ({
      inbound: {
        execute: (input, next) => timed(`activity ${context.info.activityType}`, () => next(input)),
      },
    }),
  ],
};

/** The process's inference parts (sessions, decode threads), and how to warm them for a run. */
interface InferenceParts {
  engines: InferenceEngines;
  decoders: DecodeThreads;
  tuning: SessionTuning;
  /** What a shard of `config` will ask for, loading now: a failure is the first shard's to report. */
  warm: (config: RunConfig, modelSha256: string) => void;
}

/**
 * The inference parts, created in every process (the CPU activities may warm them). A process with
 * the inference queue starts them now: every shard needs the decode threads, so they start with the
 * worker (while the workflow code bundles), not in its first shard; the embedded run's session loads
 * meanwhile too.
 */
function startInference(options: TesseraWorkersOptions): InferenceParts {
  // One line per session loaded: a run should load its model once per worker process.
  const engines = new InferenceEngines((spec, seconds) =>
    Runtime.instance().logger.info('inference session loaded', {
      model: spec.modelPath,
      sha256: spec.modelSha256,
      imgSize: spec.imgSize,
      normalize: spec.normalize,
      output: spec.output,
      seconds,
    }),
  );
  const decoders = new DecodeThreads(options.decodeThreads);
  const tuning = { intraOpThreads: options.intraOpThreads, cpuMicroBatch: options.cpuMicroBatch };
  const warm = (config: RunConfig, modelSha256: string) => {
    // A model in object storage is loaded from the copy its first shard makes: nothing to warm from here.
    if (isUri(runLayout(config).model)) return void decoders.start().catch(() => undefined);
    void timed('session load', () => engines.get({ ...sessionSpecFor(config, tuning), modelSha256 })).catch(
      () => undefined,
    );
    void decoders.start().catch(() => undefined);
  };
  if (options.queues.includes('inference')) {
    void decoders.start().catch(() => undefined);
    const config = options.warmFor;
    if (config)
      void timed('model sha256', () => sha256File(runLayout(config).model)).then(
        (sha256) => warm(config, sha256),
        () => undefined,
      );
  }
  return { engines, decoders, tuning, warm };
}

/** The workflow's and CPU activities' worker, and the one of compactions that follow extraction. */
function createCpuWorkers(
  on: WorkerPlace,
  options: TesseraWorkersOptions,
  workflowBundle: WorkflowBundleOption,
  cpuActivities: ReturnType<typeof createCpuActivities>,
): Promise<Worker[]>[] {
  return [
    Worker.create({
      connection: on.connection,
      namespace: on.namespace,
      taskQueue: TASK_QUEUES.cpu,
      workflowBundle,
      activities: cpuActivities,
      maxConcurrentActivityTaskExecutions: options.cpuConcurrency ?? 2,
      ...on.common,
    }).then((worker) => [worker]),
    // Compactions that follow extraction mostly wait for shards: slots of their own (one per
    // run being extracted, two while a run moves from train to val).
    Worker.create({
      connection: on.connection,
      namespace: on.namespace,
      taskQueue: FOLLOWING_COMPACTION_QUEUE,
      activities: { followExtraction: cpuActivities.followExtraction },
      maxConcurrentActivityTaskExecutions: FOLLOWING_COMPACTION_SLOTS,
      ...on.common,
    }).then((worker) => [worker]),
  ];
}

async function createInferenceWorker(
  on: WorkerPlace,
  options: TesseraWorkersOptions,
  { engines, decoders, tuning, stores }: InferenceParts & { stores: Stores },
  roots: WorkerRoots,
): Promise<Worker> {
  // Shards take their places in line here either way; its slots are the queue's only by default.
  const shardTurns = new NextShardSlots();
  const shardSlots = options.inferenceConcurrency === undefined ? shardTurns : undefined;
  return Worker.create({
    connection: on.connection,
    namespace: on.namespace,
    taskQueue: TASK_QUEUES.inference,
    activities: createInferenceActivities({ engines, decoders, shardTurns, stores }, roots, tuning),
    ...(shardSlots
      ? { tuner: tunerWithActivitySlots(shardSlots) }
      : { maxConcurrentActivityTaskExecutions: options.inferenceConcurrency }),
    ...on.common,
  });
}

/**
 * The workflow code the options give, or the build's prebuilt bundle, or workflows/ bundled now,
 * saying why in the log.
 */
async function ownWorkflowCode(options: TesseraWorkersOptions): Promise<WorkflowBundleOption> {
  if (options.workflowBundle) return options.workflowBundle;
  const { code, bundledNow } = options.workflowCode ?? (await workflowCode());
  if (bundledNow)
    Runtime.instance().logger.info('workflow code bundled at start: the prebuilt bundle is not current', {
      ...bundledNow,
    });
  return { code };
}

/** The workflow bundler's logger without its progress chatter: warnings and errors only. */
export const quietBundlerLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (message: string, meta?: Record<string, unknown>) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: Record<string, unknown>) => console.error(message, meta ?? ''),
};
