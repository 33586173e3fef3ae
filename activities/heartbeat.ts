import { Context } from '@temporalio/activity';

/**
 * Heartbeats every second while `work` runs (the SDK throttles what reaches the server), so that
 * when this worker dies the activity goes to another worker after the run's `heartbeatSeconds`.
 */
export async function whileHeartbeating<T>(
  work: () => Promise<T>,
  details: () => unknown = () => undefined,
): Promise<T> {
  const context = Context.current();
  context.heartbeat(details());
  // Resends the latest details: a heartbeat without them would erase the progress shown in the UI.
  const timer = setInterval(() => context.heartbeat(details()), 1000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
