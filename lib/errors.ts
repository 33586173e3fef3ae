/**
 * A problem with the user's input (config, CSV, model, output folder) that no retry can fix.
 * Activities turn it into a non-retryable Temporal failure, so the workflow ends at once with
 * this message instead of retrying forever.
 */
export class InputError extends Error {
  override name = 'InputError';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
