/** CPU work (split, planning, compaction, workflows) scales apart from inference (GPU) workers. */
export const TASK_QUEUES = {
  cpu: 'tessera-cpu',
  inference: 'tessera-inference',
} as const;

export type QueueKind = keyof typeof TASK_QUEUES;

/**
 * Compactions that follow extraction (workflows/compaction-followers.ts) spend most of their time
 * waiting for the next shard: every cpu worker polls this queue too, with slots of its own, so
 * that waiting never holds a slot that another run's preflight, split or planning needs.
 */
export const FOLLOWING_COMPACTION_QUEUE = 'tessera-cpu-compaction';

/** The run's workflow type (workflows/extract-vectors.ts; cli/workflow-types.ts checks the name). */
export const WORKFLOW_TYPE = 'extractVectors';
