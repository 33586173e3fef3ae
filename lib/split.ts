import { LegacyRandomState } from './mt19937.ts';

/** A CSV data row with its position in the input (pandas' RangeIndex label). */
export interface IndexedRow {
  index: number;
  fields: string[];
}

export interface SplitResult {
  training: IndexedRow[];
  validation: IndexedRow[];
}

export class SplitError extends Error {
  override name = 'SplitError';
}

/** pandas sorts integer group keys numerically and everything else as strings. */
function compareClassKeys(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isInteger(na) && Number.isInteger(nb) && a.trim() !== '' && b.trim() !== '') return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The notebook's split, step for step:
 *   val = df.groupby(classColumn).sample(valSamples, random_state=seed)
 *   train = df[~df[idColumn].isin(val[idColumn])]
 * Groups are visited in sorted key order and each draws `permutation(groupSize)[:valSamples]`
 * from one shared RandomState, so validation rows come out grouped by class.
 */
export function splitByClass(
  rows: readonly IndexedRow[],
  classOf: (row: IndexedRow) => string,
  idOf: (row: IndexedRow) => string,
  valSamples: number,
  seed: number,
): SplitResult {
  const groups = new Map<string, IndexedRow[]>();
  for (const row of rows) {
    const key = classOf(row);
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  const random = new LegacyRandomState(seed);
  const validation: IndexedRow[] = [];
  for (const key of [...groups.keys()].sort(compareClassKeys)) {
    const group = groups.get(key)!;
    if (valSamples > group.length) {
      throw new SplitError(
        `class ${JSON.stringify(key)} has ${group.length} row(s), fewer than valSamples=${valSamples}`,
      );
    }
    const picked = random.permutation(group.length).slice(0, valSamples);
    for (const position of picked) validation.push(group[position]!);
  }
  const validationIds = new Set(validation.map(idOf));
  const training = rows.filter((row) => !validationIds.has(idOf(row)));
  return { training, validation };
}
