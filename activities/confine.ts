import type { RunConfig } from '../lib/core/run-config.ts';
import { checkRunConfigPaths, type WorkerRoots } from '../lib/run-folder/confinement.ts';
import { failFastOnInputErrors } from './fail-fast.ts';

/** An activity whose first argument is its run's config, as every tessera activity's is. */
type RunActivity = (config: RunConfig, ...rest: never[]) => Promise<unknown>;

/**
 * Wraps every activity of a factory so that its config is checked against the worker's roots
 * before the activity runs (and so before it touches any file). Wrapping the whole object, not
 * each adapter, means an activity added later cannot skip the check, and the type demands that
 * each one takes the config first. A violation fails the run at once (non-retryable).
 */
export function confineActivities<T extends Record<string, RunActivity>>(roots: WorkerRoots, activities: T): T {
  const confined = Object.entries(activities).map(([name, activity]) => [
    name,
    async (config: RunConfig, ...rest: never[]) => {
      await failFastOnInputErrors(() => checkRunConfigPaths(config, roots));
      return activity(config, ...rest);
    },
  ]);
  return Object.fromEntries(confined) as T;
}
