/** CPU work (split, planning, compaction, workflows) scales apart from inference (GPU) workers. */
export const TASK_QUEUES = {
  cpu: 'tessera-cpu',
  inference: 'tessera-inference',
} as const;

export type QueueKind = keyof typeof TASK_QUEUES;

export const WORKFLOW_TYPE = 'extractVectors';
