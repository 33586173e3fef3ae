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

/**
 * The notebook's split, step for step:
 *   val = df.groupby(classColumn).sample(valSamples, random_state=seed)
 *   train = df[~df[idColumn].isin(val[idColumn])]
 * Groups are visited in sorted key order (`compareKeys`, pandas' order for the column's type;
 * rows whose key is null — NaN — belong to no group, as with dropna=True) and each draws
 * `permutation(groupSize)[:valSamples]` from one shared RandomState, so validation rows come out
 * grouped by class.
 */
export function splitByClass(
  rows: readonly IndexedRow[],
  classOf: (row: IndexedRow) => string | null,
  idOf: (row: IndexedRow) => string,
  valSamples: number,
  seed: number,
  compareKeys: (a: string, b: string) => number,
): SplitResult {
  const groups = new Map<string, IndexedRow[]>();
  for (const row of rows) {
    const key = classOf(row);
    if (key === null) continue;
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  const random = new LegacyRandomState(seed);
  const validation: IndexedRow[] = [];
  for (const key of [...groups.keys()].sort(compareKeys)) {
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
