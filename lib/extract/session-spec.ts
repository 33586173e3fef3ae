import type { RunConfig } from '../core/run-config.ts';
import type { SessionSpec } from '../inference/protocol.ts';
import { runLayout } from '../run-folder/layout.ts';

/** How a worker tunes its inference sessions (`tessera worker` options). */
export interface SessionTuning {
  /** Threads for onnxruntime's intra-op pool; undefined lets onnxruntime pick (all cores). */
  intraOpThreads?: number;
  /** Images per session.run on the CPU provider (see SessionSpec.microBatch); GPUs take whole batches. */
  cpuMicroBatch?: number;
}

export const DEFAULT_CPU_MICRO_BATCH = 8;

/** The session a run needs on this worker: its model, provider and output, with the worker's tuning. */
export function sessionSpecFor(config: RunConfig, tuning: SessionTuning = {}): SessionSpec {
  return {
    modelPath: runLayout(config).model,
    executionProvider: config.executionProvider,
    output: config.output,
    imgSize: config.imgSize,
    normalize: config.normalize,
    intraOpThreads: tuning.intraOpThreads,
    microBatch: config.executionProvider === 'cpu' ? (tuning.cpuMicroBatch ?? DEFAULT_CPU_MICRO_BATCH) : undefined,
  };
}
