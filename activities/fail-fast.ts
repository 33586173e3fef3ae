import { ApplicationFailure } from '@temporalio/common';
import { DamagedShardsError, FAILURE_TYPES, InputError, type DamagedShardsDetails } from '../lib/core/errors.ts';

/**
 * Input problems end the workflow at once; damaged shards go back to the workflow at once (it
 * extracts them again); anything else is retried with backoff.
 */
export async function failFastOnInputErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof InputError) throw ApplicationFailure.nonRetryable(error.message, FAILURE_TYPES.input);
    if (error instanceof DamagedShardsError) {
      const details: DamagedShardsDetails = { split: error.split, shards: error.shards };
      throw ApplicationFailure.create({
        message: error.message,
        type: FAILURE_TYPES.damagedShards,
        nonRetryable: true,
        details: [details],
      });
    }
    throw error;
  }
}
