/**
 * A scheduled run writes to its own folder: `--out /data/out/nightly-{scheduledTime}` becomes
 * `/data/out/nightly-20261129T050000Z`. The time is the schedule's slot, not the moment a worker
 * got to it: a slot run late (after an outage, within the catch-up window) is still named by it.
 */
export const SCHEDULED_TIME_PLACEHOLDER = '{scheduledTime}';

export function hasOutputTemplate(out: string): boolean {
  return out.includes(SCHEDULED_TIME_PLACEHOLDER);
}

/** 2026-11-29T05:00:00.000Z → 20261129T050000Z: sortable, and legal in every file system. */
export function compactUtcTime(time: Date): string {
  return time
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

export function resolveOutputTemplate(out: string, scheduledTime: Date): string {
  return out.replaceAll(SCHEDULED_TIME_PLACEHOLDER, compactUtcTime(scheduledTime));
}
