import { evaluateOutput } from '../lib/search/evaluate.ts';
import { searchLayout } from '../lib/search/records.ts';
import { oneOutputFolder, tellingInputErrors, wholeNumber } from './index-command.ts';
import { parseCommandArgs } from './usage.ts';

/**
 * `tessera evaluate OUT`: the run's occluded validation images (or --queries DIR's vectors) as
 * queries against its index; writes OUT/evaluation.json and prints its figures.
 */
export function evaluateCommand(args: string[]): Promise<number> {
  return tellingInputErrors('evaluate', async () => {
    const { values, positionals } = parseCommandArgs(
      'evaluate',
      args,
      {
        queries: { type: 'string' },
        neighbours: { type: 'string' },
        'recall-images': { type: 'string' },
        'recall-k': { type: 'string' },
        json: { type: 'boolean' },
      },
      { allowPositionals: true },
    );
    const out = oneOutputFolder('evaluate', positionals);
    const evaluation = await evaluateOutput(out, {
      queries: values.queries,
      neighbours: wholeNumber('neighbours', values.neighbours, 1),
      recallImages: wholeNumber('recall-images', values['recall-images'], 0),
      recallK: wholeNumber('recall-k', values['recall-k'], 1),
    });
    if (values.json) {
      process.stdout.write(JSON.stringify(evaluation, null, 2) + '\n');
      return 0;
    }
    const { recall, index } = evaluation;
    process.stdout.write(
      [
        `tessera evaluate: ${evaluation.queries.images} queries in ${evaluation.seconds.toFixed(1)} s`,
        `  MAP@5      ${evaluation.map5.toFixed(4)}`,
        `  top-1      ${evaluation.top1.toFixed(4)}`,
        `  recall@${recall.k}  ${recall.value.toFixed(4)} (ANN against exact search, ${recall.tiles} query tiles of ${recall.images} images)`,
        `  index      ${index.entries} tiles, ${index.settings.metric} ${index.settings.precision}, k = ${evaluation.vote.neighbours} neighbours per query tile`,
        `  output     ${searchLayout(out).evaluation}`,
      ].join('\n') + '\n',
    );
    return 0;
  });
}
