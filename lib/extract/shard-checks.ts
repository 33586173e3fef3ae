import fs from 'node:fs/promises';
import type { Split } from '../core/run-config.ts';
import { InputError } from '../core/errors.ts';
import { sha256File } from '../core/hashing.ts';
import { isUri } from '../core/uri.ts';
import type { RunLayout, SplitLayout } from '../run-folder/layout.ts';
import type { ExtractionKey, ShardPlan, ShardReportRecord } from '../run-folder/records.ts';
import { readRunOptions } from '../run-folder/run-options-record.ts';
import { readShardReport } from '../run-folder/shard-records.ts';
import type { Stores } from '../storage/open-store.ts';
import type { ImageSource } from './image-source.ts';
import { lineageMismatch } from './lineage.ts';

/**
 * What a shard attempt checks before it extracts anything: whether the shard already on disk can
 * stand for its plan now, and whether the model is still the one the run recorded.
 */

/**
 * The shard on disk when it can stand for this plan now (its report, extraction key, images'
 * ordinal, id, target and bytes, and file checksum all hold), else why not (naming its file), or
 * null when it was never extracted.
 */
export async function shardOnDisk(
  files: SplitLayout,
  split: Split,
  shard: number,
  plan: ShardPlan,
  key: ExtractionKey,
  images: ImageSource,
): Promise<{ reusable: ShardReportRecord } | { redo: string | null }> {
  const read = await readShardReport(files.report(shard));
  if ('problem' in read)
    return { redo: read.problem === 'not extracted yet' ? null : `${split} shard ${shard}: ${read.problem}` };
  const { report } = read;
  const file = files.parquet(shard);
  // A file that is gone (a finished run keeps no shards unless --keep-shards) is redone whatever its
  // lineage says: checked first, so that its images are not read, or asked of the store, for nothing.
  const present =
    report.parquet === null ||
    (await fs.stat(file).then(
      () => true,
      () => false,
    ));
  if (!present) return { redo: `${file} is gone (removed after the run finished, unless --keep-shards, or deleted)` };
  const lineage = await lineageMismatch(report.lineage, key, plan.images, images, report.imageTags);
  if (lineage) return { redo: `${file}: ${lineage}` };
  if (report.parquet === null) return { reusable: report };
  const actual = await sha256File(file).catch(() => null);
  if (actual === null)
    return { redo: `${file} is gone (removed after the run finished, unless --keep-shards, or deleted)` };
  if (actual !== report.parquetSha256)
    return {
      redo: `${file} does not match its report (sha256 ${actual.slice(0, 12)}…, recorded ${report.parquetSha256?.slice(0, 12)}…): damaged, truncated or replaced`,
    };
  return { reusable: report };
}

/**
 * The model's sha256, which must still be the one preflight recorded: a model file replaced during
 * a run would mix two models' vectors under one name. Hashed per shard (milliseconds); the engine
 * is keyed by it, so a long-lived worker loads a replaced file afresh rather than reusing a session.
 */
export async function modelAsRecorded(layout: RunLayout, stores: Stores): Promise<{ sha256: string; file: string }> {
  const model = layout.model;
  const recorded = (await readRunOptions(layout)).modelSha256;
  // A model in object storage: this worker's copy of its current version (a HEAD when it has one).
  const copy = isUri(model) ? await stores.localFile(model, 'model file').catch(() => null) : undefined;
  const now = copy === undefined ? await sha256File(model).catch(() => null) : (copy?.sha256 ?? null);
  if (now !== recorded) {
    throw new InputError(
      `model file ${model} ${now === null ? 'is gone' : `changed (sha256 ${recorded.slice(0, 12)}… → ${now.slice(0, 12)}…)`} since this run started: ` +
        'run the command again; a different model is refused in this folder unless --force',
    );
  }
  return { sha256: recorded, file: copy?.file ?? model };
}
