/**
 * `work` over `items`, at most `limit` at a time, handed out in item order. Workflows use this
 * rather than lib/core/map-limited.ts (deterministic too) for what a run needs on failure: once one
 * item fails no lane takes another, and every lane's running item is waited for before the first
 * failure is thrown, so that a failed or cancelled run ends only after its activities have stopped
 * and removed their temporary files. `beforeLane(k)`, when given, is awaited before lane k takes
 * its first item.
 */
export async function runInLanes<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
  beforeLane?: (lane: number) => Promise<unknown> | undefined,
): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async (k: number) => {
    const ready = beforeLane?.(k);
    if (ready) await ready; // no await otherwise: lane 0 schedules its first activity at once
    while (next < items.length && !failed) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, (_, k) => lane(k)));
  const rejected = lanes.find((settled): settled is PromiseRejectedResult => settled.status === 'rejected');
  if (rejected) throw rejected.reason;
}
