/**
 * A problem with the user's input (config, CSV, model, output folder) that no retry can fix.
 * Activities turn it into a non-retryable Temporal failure, so the workflow ends at once with
 * this message instead of retrying forever.
 */
export class InputError extends Error {
  override name = 'InputError';
}

/** Failure types a workflow tells apart (errors cross into it as Temporal failures by type). */
export const FAILURE_TYPES = { input: 'InputError', damagedShards: 'DamagedShards' } as const;

/** Which shards must be extracted again: the details of a `DamagedShards` failure. */
export interface DamagedShardsDetails {
  split: 'train' | 'val';
  shards: number[];
}

/**
 * Shard files that do not match their reports (damaged, truncated, replaced) or have no report.
 * The workflow extracts them again at once on this error; retrying the same step cannot help.
 */
export class DamagedShardsError extends Error {
  override name = 'DamagedShardsError';
  constructor(
    readonly split: 'train' | 'val',
    readonly shards: number[],
    problems: string[],
  ) {
    super(`${split} shards ${shards.join(', ')} must be extracted again: ${problems.join('; ')}`);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
