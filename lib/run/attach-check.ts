import fs from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../core/run-config.ts';
import { InputError } from '../core/errors.ts';
import { sha256OfInput } from '../storage/input-copy.ts';
import { readShardReport } from '../run-folder/shard-records.ts';
import type { LinkTargets } from '../extract/image-files.ts';
import { openImageSource, type ImageSource } from '../extract/image-source.ts';
import { firstChangedImage } from '../extract/lineage.ts';
import type { Stores } from '../storage/open-store.ts';
import { runLayout, type RunLayout } from '../run-folder/layout.ts';
import { SplitRecordSchema } from '../run-folder/records.ts';
import { readRecord } from '../run-folder/records-io.ts';
import { readRunOptionsIfAny, runOptionChanges, runOptionsOf } from '../run-folder/run-options-record.ts';

/** What became of a `tessera run` that found its folder's run open. */
export type AttachResult = { action: 'attached' } | { action: 'restarted'; reason: string };

/**
 * Whether an open run (`running`) can carry on for a command that asks for `requested`. Options
 * that change the output must be the same (or forced); any other difference, a changed input
 * CSV, or an image whose bytes changed since its shard was extracted restarts the run on what the
 * command asks for, where every shard that still matches is reused.
 */
export async function checkAttach(
  running: RunConfig,
  requested: RunConfig,
  linkTargets: LinkTargets,
  stores: Stores,
): Promise<AttachResult> {
  const layout = runLayout(running);
  // Against what the run recorded when it started (the model as it was then), not the files now.
  const recorded = (await readRunOptionsIfAny(layout)) ?? (await runOptionsOf(running, layout, stores));
  const changes = runOptionChanges(recorded, await runOptionsOf(requested, runLayout(requested), stores));
  if (changes.length > 0 && !requested.force) {
    throw new InputError(
      `output folder ${layout.out} has an open run with other options: ${changes.join(', ')}. ` +
        'Use the same options to resume it, another --out, or --force to restart it on the new ones',
    );
  }
  if (changes.length > 0) return { action: 'restarted', reason: `options changed (--force): ${changes.join(', ')}` };
  const differing = (Object.keys(requested) as (keyof RunConfig)[]).filter(
    (key) => JSON.stringify(running[key]) !== JSON.stringify(requested[key]),
  );
  if (differing.length > 0) return { action: 'restarted', reason: `the command changed ${differing.join(', ')}` };

  const reason = (await csvChange(layout, stores)) ?? (await imageChange(running.splits, layout, linkTargets, stores));
  return reason ? { action: 'restarted', reason } : { action: 'attached' };
}

async function csvChange(layout: RunLayout, stores: Stores): Promise<string | undefined> {
  // Not split yet (or a damaged record, which the split rewrites): the split reads the CSV as it is now.
  const record = await readRecord(layout.splitRecord, SplitRecordSchema).catch(() => undefined);
  if (!record) return undefined;
  const now = await sha256OfInput(layout.inputCsv, stores);
  if (record.inputCsv !== layout.inputCsv || now !== record.inputSha256)
    return `${layout.inputCsv} changed since the run split it`;
  return undefined;
}

/** The first image whose bytes are not those its finished shard was extracted from. */
async function imageChange(
  splits: RunConfig['splits'],
  layout: RunLayout,
  linkTargets: LinkTargets,
  stores: Stores,
): Promise<string | undefined> {
  let images: ImageSource | undefined;
  for (const split of splits) {
    const { reports } = layout.split(split);
    const names = (await fs.readdir(reports).catch(() => [] as string[]))
      .filter((name) => name.endsWith('.json'))
      .sort();
    for (const name of names) {
      const read = await readShardReport(path.join(reports, name));
      if (!('report' in read)) continue; // redone when its turn comes
      images ??= await openImageSource(layout.images, linkTargets, stores).catch(() => undefined);
      if (!images) return `image folder ${layout.images} does not exist`;
      const tags = read.report.imageTags ?? {};
      const changed = await firstChangedImage(
        images,
        read.report.lineage.images.map(([, imageId, , sha256]) => [imageId, sha256, tags[imageId]] as const),
      );
      if (changed !== undefined)
        return `image ${changed} changed since ${split} shard ${read.report.shard} was extracted`;
    }
  }
  return undefined;
}
