/**
 * How a run failed or was cancelled, for the commands that report it. Apart from submit-run.ts,
 * which loads the Temporal client: the embedded run throws them before it needs one (a folder it
 * may not write into) or after a run that needed none (a finished one).
 */
export class RunFailedError extends Error {
  override name = 'RunFailedError';
  /** The log with the details (an embedded run's OUT/.tessera/tessera.log), printed after the message. */
  log?: string;
}

export class RunCancelledError extends Error {
  override name = 'RunCancelledError';
}
