import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createCpuActivities } from '../activities/cpu-activities.ts';
import { createInferenceActivities } from '../activities/inference-activities.ts';
import { InferenceEngines } from '../lib/inference/engine.ts';
import { WORKFLOWS_PATH } from '../lib/project-paths.ts';
import { TASK_QUEUES, type QueueKind } from '../lib/task-queues.ts';
import { installRuntime } from './runtime.ts';

export interface TesseraWorkersOptions {
  address: string;
  namespace?: string;
  queues: readonly QueueKind[];
  /** Shards one inference worker runs at once. One is enough to keep its session busy, because
   * each shard already overlaps decoding with inference; more only adds memory. */
  inferenceConcurrency?: number;
  cpuConcurrency?: number;
  intraOpThreads?: number;
  cpuMicroBatch?: number;
}

export interface TesseraWorkers {
  /** Resolves when every worker has stopped (after shutdown(), or on a fatal error). */
  run(): Promise<void>;
  shutdown(): void;
}

/**
 * The process's Temporal workers: `cpu` runs the workflow and the CPU activities, `inference`
 * runs extractShard with this process's single ONNX session per model.
 */
export async function createWorkers(options: TesseraWorkersOptions): Promise<TesseraWorkers> {
  installRuntime();
  const connection = await NativeConnection.connect({ address: options.address });
  const namespace = options.namespace ?? 'default';
  const engines = new InferenceEngines();
  const workers: Worker[] = [];
  let bundle: WorkflowBundleWithSourceMap | undefined;
  try {
    if (options.queues.includes('cpu')) {
      bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
      workers.push(
        await Worker.create({
          connection,
          namespace,
          taskQueue: TASK_QUEUES.cpu,
          workflowBundle: bundle,
          activities: createCpuActivities(),
          maxConcurrentActivityTaskExecutions: options.cpuConcurrency ?? 2,
        }),
      );
    }
    if (options.queues.includes('inference')) {
      workers.push(
        await Worker.create({
          connection,
          namespace,
          taskQueue: TASK_QUEUES.inference,
          activities: createInferenceActivities(engines, { intraOpThreads: options.intraOpThreads, cpuMicroBatch: options.cpuMicroBatch }),
          maxConcurrentActivityTaskExecutions: options.inferenceConcurrency ?? 1,
        }),
      );
    }
  } catch (error) {
    await connection.close();
    throw error;
  }

  return {
    async run() {
      try {
        await Promise.all(workers.map((worker) => worker.run()));
      } finally {
        await engines.closeAll();
        await connection.close();
      }
    },
    shutdown() {
      for (const worker of workers) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
      }
    },
  };
}

const quietBundlerLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (message: string, meta?: Record<string, unknown>) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: Record<string, unknown>) => console.error(message, meta ?? ''),
};
