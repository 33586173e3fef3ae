import { TESSERA_VERSION } from '../core/version.ts';
import { leaveOneOutAccuracy } from '../eval/nearest-neighbour.ts';
import { writeFileAtomic } from '../run-folder/atomic-files.ts';
import { outputLayout } from '../run-folder/layout.ts';
import { imagesPerClass } from './class-counts.ts';
import { summariseErrors } from './errors-summary.ts';
import { renderReport } from './html.ts';
import { principalComponents, project } from './pca.ts';
import type { ClassRow, ReportData, VectorSummary } from './report-data.ts';
import { readReportInputs } from './report-inputs.ts';
import { sampleImageVectors } from './sample-vectors.ts';
import { summariseSearch } from './search-summary.ts';
import { shardTimeline } from './timeline.ts';

/**
 * `tessera report`: a self-contained HTML page about a finished run, written beside its outputs.
 * Everything but the vector sample comes from small files (manifest.json, errors.csv, the class
 * mapping) and one DuckDB pass over the `target` column; the vectors are sampled (sample-vectors.ts),
 * so a run of a million images is reported in seconds. The search section reads the index's record
 * and evaluation.json, and ranks four validation queries on the memory-mapped index (search-summary.ts).
 */

/** Images sampled at most for the scatter plot and the nearest-neighbour figure. */
export const REPORT_SAMPLE_IMAGES = 2000;

export async function gatherReport(out: string, maxImages = REPORT_SAMPLE_IMAGES): Promise<ReportData> {
  const inputs = await readReportInputs(out);
  const { manifest, layout, classLabels } = inputs;
  const tiles = manifest.counts.tilesPerImage;
  const files = [inputs.vectors, inputs.validationVectors].filter((file) => file !== null);
  const counted = tiles > 0 && files.length > 0 ? await imagesPerClass(files, tiles) : [];
  const training = inputs.vectors ? counted[0]! : new Map<number, number>();
  const validation = inputs.validationVectors ? counted[files.length - 1]! : null;
  const targets = [...new Set([...training.keys(), ...(validation?.keys() ?? []), ...classLabels.keys()])].sort(
    (a, b) => a - b,
  );
  const classes: ClassRow[] = targets.map((target) => ({
    target,
    label: classLabels.get(target) ?? String(target),
    training: training.get(target) ?? 0,
    validation: validation === null ? null : (validation.get(target) ?? 0),
  }));
  return {
    out: layout.out,
    generatedAt: new Date().toISOString(),
    tessera: TESSERA_VERSION,
    manifest,
    errors: await summariseErrors(layout.errorsCsv),
    classes,
    timeline: shardTimeline(manifest.shards),
    vectors: inputs.vectors && tiles > 0 ? await summariseVectors(inputs.vectors, tiles, maxImages) : null,
    ...(inputs.vectors ? { search: await summariseSearch(layout.out, manifest) } : {}),
  };
}

async function summariseVectors(file: string, tilesPerImage: number, maxImages: number): Promise<VectorSummary> {
  const started = performance.now();
  const sample = await sampleImageVectors(file, tilesPerImage, maxImages);
  const { images } = sample;
  let pca: VectorSummary['pca'] = null;
  if (images.length >= 3) {
    const vectors = images.map((image) => image.vector);
    const analysis = principalComponents(vectors, 2);
    const total = analysis.totalVariance || 1;
    pca = {
      points: project(analysis, vectors).map(([x, y], k) => ({
        x: x ?? 0,
        y: y ?? 0,
        target: images[k]!.target,
        file: images[k]!.file,
      })),
      explained: [(analysis.variances[0] ?? 0) / total, (analysis.variances[1] ?? 0) / total],
    };
  }
  let nearestNeighbour: VectorSummary['nearestNeighbour'] = null;
  if (images.length >= 2) {
    nearestNeighbour = {
      accuracy: leaveOneOutAccuracy(images),
      chance: chanceOfSameClass(images.map((image) => image.target)),
      images: images.length,
      classes: new Set(images.map((image) => image.target)).size,
    };
  }
  return {
    channels: sample.channels,
    totalImages: sample.totalImages,
    complete: sample.complete,
    rowGroups: sample.rowGroups,
    rowGroupsRead: sample.rowGroupsRead,
    pagesRead: sample.pagesRead,
    wholeGroups: sample.wholeGroups,
    bytesRead: sample.bytesRead,
    fileBytes: sample.fileBytes,
    file,
    tilesPerImage,
    sampled: images.length,
    maxImages,
    pca,
    nearestNeighbour,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * What 1-NN accuracy a neighbour picked at random among the others would get: the chance that
 * another image of the sample has the same class, Σ n_c(n_c − 1) / (N(N − 1)).
 */
export function chanceOfSameClass(targets: readonly number[]): number {
  const n = targets.length;
  if (n < 2) return 0;
  const perClass = new Map<number, number>();
  for (const target of targets) perClass.set(target, (perClass.get(target) ?? 0) + 1);
  let pairs = 0;
  for (const count of perClass.values()) pairs += count * (count - 1);
  return pairs / (n * (n - 1));
}

/** Gathers the report and writes it (default OUT/report.html); returns the page's path and what it shows. */
export async function writeRunReport(
  out: string,
  options: { file?: string; maxImages?: number } = {},
): Promise<{ file: string; data: ReportData }> {
  const data = await gatherReport(out, options.maxImages);
  const file = options.file ?? outputLayout(out).report;
  await writeFileAtomic(file, renderReport(data));
  return { file, data };
}
