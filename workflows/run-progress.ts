import { defineQuery } from '@temporalio/workflow';

export interface RunProgress {
  stage: 'preflight' | 'split' | 'plan' | 'extract' | 'compact' | 'manifest' | 'done';
  shardsTotal: number;
  shardsDone: number;
  imagesTotal: number;
  /** Images of finished shards (the CLI adds running shards' heartbeats). */
  imagesDone: number;
  rows: number;
  errors: number;
}

export const progressQuery = defineQuery<RunProgress>('progress');
