import { ApplicationFailure } from '@temporalio/common';
import { InputError } from '../lib/errors.ts';

/** Input problems end the workflow at once; anything else is retried with backoff. */
export async function failFastOnInputErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof InputError) throw ApplicationFailure.nonRetryable(error.message, 'InputError');
    throw error;
  }
}
