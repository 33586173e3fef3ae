import fs from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../core/run-config.ts';
import { extractionKey } from '../extract/lineage.ts';
import { SCHEDULED_TIME_PLACEHOLDER } from './output-template.ts';
import { outputLayout, runLayout } from '../run-folder/layout.ts';
import { readLiveLease } from '../run-folder/lease.ts';
import { readRunOptions } from '../run-folder/run-options-record.ts';
import { refuseUnreadRecords } from '../run-folder/records-io.ts';
import { InputError } from '../core/errors.ts';
import { openReuseSource } from '../reuse/reuse-source.ts';

/**
 * The finished outputs of an output template (`/data/nightly-{scheduledTime}`): sibling folders
 * whose name is the template's with a slot time, holding a manifest, newest first. The time
 * (20261129T050000Z) sorts as text. Only the last path component may hold the placeholder.
 */
export async function finishedRunsOf(template: string): Promise<string[]> {
  const parent = path.dirname(template);
  const pattern = templatePattern(template);
  if (!pattern) return [];
  const names = await fs.readdir(parent).catch(() => [] as string[]);
  const finished: { folder: string; time: string }[] = [];
  for (const entry of names) {
    const time = pattern.exec(entry)?.[1];
    const folder = path.join(parent, entry);
    if (
      time &&
      (await fs.stat(outputLayout(folder).manifest).then(
        () => true,
        () => false,
      ))
    )
      finished.push({ folder, time });
  }
  return finished.sort((a, b) => (a.time < b.time ? 1 : -1)).map((run) => run.folder);
}

/** The names a template's runs take, or undefined when the placeholder is not (only) in the last component. */
function templatePattern(template: string): RegExp | undefined {
  const name = path.basename(template);
  if (!name.includes(SCHEDULED_TIME_PLACEHOLDER) || path.dirname(template).includes(SCHEDULED_TIME_PLACEHOLDER))
    return undefined;
  const parts = name.split(SCHEDULED_TIME_PLACEHOLDER);
  if (parts.length !== 2) return undefined;
  const [before, after] = parts.map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${before}(\\d{8}T\\d{6}Z)${after}$`);
}

/** Whether `out` is one of `template`'s runs: an activity acts on a template only for its own run's. */
export function isRunOf(template: string, out: string): boolean {
  const resolved = path.resolve(out);
  return (
    path.dirname(resolved) === path.resolve(path.dirname(template)) &&
    templatePattern(template)?.test(path.basename(resolved)) === true
  );
}

export interface ReusePlan {
  /** The sources the run's shards will read from: the given ones and the earlier run found, each usable for at least one split. */
  sources: string[];
  /** Why each other source is not used, naming it. */
  skipped: string[];
}

/**
 * The reuse sources of a run, checked once before extraction (each shard's worker checks again
 * with its own extraction key): `--reuse` folders, and with reuseEarlierRuns the newest finished
 * earlier output of the run's template. A source no split can use is reported, not used.
 */
export async function planReuse(config: RunConfig, template: string | undefined): Promise<ReusePlan> {
  const out = path.resolve(config.out);
  const candidates = config.reuse.map((folder) => path.resolve(folder));
  if (config.reuseEarlierRuns && template !== undefined && isRunOf(template, out)) {
    const earlier = (await finishedRunsOf(template)).find((folder) => path.basename(folder) < path.basename(out));
    if (earlier) candidates.push(earlier);
  }
  const { modelSha256 } = await readRunOptions(runLayout(config));
  const sources: string[] = [];
  const skipped: string[] = [];
  for (const folder of new Set(candidates)) {
    if (folder === out) {
      skipped.push(
        `reuse source ${folder} skipped: it is this run's own output folder (a run on a finished folder reuses its outputs by itself)`,
      );
      continue;
    }
    // A source can serve one split and not the other (say its training vectors file is damaged).
    let usable = false;
    for (const split of config.splits) {
      const opened = await openReuseSource(folder, split, extractionKey(config, split, modelSha256), { index: false });
      if ('source' in opened) usable = true;
      else skipped.push(opened.skipped);
    }
    if (usable) sources.push(folder);
  }
  return { sources, skipped };
}

/**
 * Once a run of a template has finished: removes the finished outputs of the template beyond the
 * newest `keep` (the run itself is one of them). A finished run needs none of its sources any
 * more (reused vectors are copied); a folder without a manifest (running, failed, resumable) or
 * with a live lease is never removed, nor one tessera did not create, nor one holding a record of
 * a format this version does not read.
 */
export async function removeOldRuns(template: string, out: string, keep: number): Promise<string[]> {
  const removed: string[] = [];
  if (!isRunOf(template, out))
    throw new InputError(`${out} is not an output of the template ${template}: nothing removed`);
  for (const folder of (await finishedRunsOf(template)).slice(keep)) {
    const layout = outputLayout(folder);
    const ours = await fs.stat(layout.marker).then(
      () => true,
      () => false,
    );
    if (!ours || readLiveLease(folder) !== null) continue;
    // A folder of another version's formats is refused as it is: never removed (docs/compatibility.md).
    const unread = await refuseUnreadRecords(layout).then(
      () => false,
      () => true,
    );
    if (unread) continue;
    await fs.rm(folder, { recursive: true, force: true });
    removed.push(folder);
  }
  return removed;
}
