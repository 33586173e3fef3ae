/** CPU work (split, planning, compaction, workflows) scales apart from inference (GPU) workers. */
export const TASK_QUEUES = {
  cpu: 'tessera-cpu',
  inference: 'tessera-inference',
} as const;

export type QueueKind = keyof typeof TASK_QUEUES;

/** The run's workflow type (workflows/extract-vectors.ts; cli/workflow-types.ts checks the name). */
export const WORKFLOW_TYPE = 'extractVectors';
