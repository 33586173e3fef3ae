import type { RunConfig } from '../core/run-config.ts';
import { buildIndex } from './build-index.ts';
import { evaluateOutput } from './evaluate.ts';

/**
 * The search stages (`--index`, `--evaluate`) of a run whose output is already finished with the
 * same inputs. The embedded run starts no workflow then (nothing to extract), so the workflow's
 * last stages (workflows/extract-vectors.ts, searchStages) would never run: they run here instead,
 * as they would there and as `tessera index` / `tessera evaluate` run them: the index with the
 * default settings, kept when it holds these vectors already, then the evaluation on the
 * occluded validation images. Returns one line per stage for the command to print.
 */
export async function searchStagesOfFinishedRun(config: RunConfig): Promise<string[]> {
  if ((!config.index && !config.evaluate) || !config.splits.includes('train')) return [];
  const { record, built } = await buildIndex(config.out);
  const lines = [
    built
      ? `index built: ${record.entries} tiles in ${record.seconds.toFixed(1)} s (${record.indexFile})`
      : `index current: it holds these vectors with these settings (${record.indexFile})`,
  ];
  if (!config.evaluate) return lines;
  if (!config.splits.includes('val'))
    return [...lines, 'evaluate needs the validation split (splits train,val): not evaluated'];
  const evaluation = await evaluateOutput(config.out);
  return [
    ...lines,
    `evaluated: MAP@5 ${evaluation.map5.toFixed(4)}, top-1 ${evaluation.top1.toFixed(4)}, ` +
      `recall@${evaluation.recall.k} ${evaluation.recall.value.toFixed(4)} over ${evaluation.queries.images} ` +
      'queries (evaluation.json)',
  ];
}
