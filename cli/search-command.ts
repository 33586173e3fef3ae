import fs from 'node:fs/promises';
import { InputError } from '../lib/core/errors.ts';
import { Searcher, type SearchAnswer } from '../lib/search/searcher.ts';
import { VOTE_RULE } from '../lib/search/votes.ts';
import { tellingInputErrors, wholeNumber } from './index-command.ts';
import { UsageError } from './run-options.ts';
import { parseCommandArgs, usageOf } from './usage.ts';

const MATCHES_SHOWN = 4;

function describe(answer: SearchAnswer): string {
  const lines = [
    `${answer.query}  (model ${answer.timings.embedMs.toFixed(0)} ms, index ${answer.timings.searchMs.toFixed(1)} ms)`,
    `  classes  ${answer.classes.map((c, k) => `${k + 1}. ${c.target} (${c.score.toFixed(3)})`).join('  ')}`,
    '  images',
  ];
  answer.images.forEach((image, k) => {
    const tiles = image.matches
      .slice(0, MATCHES_SHOWN)
      .map((m) => `(${m.query.join(',')})→(${m.tile.join(',')}) ${m.distance.toFixed(3)}`)
      .join(', ');
    const more = image.matches.length > MATCHES_SHOWN ? `, … ${image.matches.length} tiles` : '';
    lines.push(
      `    ${k + 1}. ${image.file}  class ${image.target}  score ${image.score.toFixed(3)}  tiles query(x,y)→(x,y) distance: ${tiles}${more}`,
    );
  });
  return lines.join('\n');
}

/**
 * `tessera search OUT IMAGE...`: each query image through the output's model, its tiles' nearest
 * tiles from the index, classes and training images ranked by the vote rule. An image that
 * cannot be read or decoded ends the command with its name and why (exit 1).
 */
export function searchCommand(args: string[]): Promise<number> {
  return tellingInputErrors('search', () => searchImages(args));
}

async function searchImages(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'search',
    args,
    { top: { type: 'string' }, neighbours: { type: 'string' }, json: { type: 'boolean' } },
    { allowPositionals: true },
  );
  const [out, ...images] = positionals;
  if (out === undefined || images.length === 0)
    throw new UsageError(`needs an output folder and at least one query image\n\n${usageOf('search')}`);
  const top = wholeNumber('top', values.top, 1) ?? 5;
  const neighbours = wholeNumber('neighbours', values.neighbours, 1);
  const searcher = await Searcher.open(out, { neighbours });
  const answers: SearchAnswer[] = [];
  try {
    for (const image of images) {
      const bytes = await fs.readFile(image).catch((error: NodeJS.ErrnoException) => {
        throw new InputError(`cannot read query image ${image}: ${error.code ?? error.message}`);
      });
      const answer = await searcher.search(bytes, image, { top });
      answers.push(answer);
      if (!values.json) process.stdout.write(describe(answer) + '\n');
    }
  } finally {
    await searcher.close();
  }
  if (values.json)
    process.stdout.write(
      JSON.stringify({ vote: { rule: VOTE_RULE, neighbours: searcher.neighbours }, answers }, null, 2) + '\n',
    );
  return 0;
}
