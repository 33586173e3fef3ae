import { LegacyRandomState } from '../pandas/mt19937.ts';

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
  const keys = new Map<string, number>();
  const keyOfRow = Int32Array.from(rows, (row) => {
    const key = classOf(row);
    if (key === null) return -1;
    if (!keys.has(key)) keys.set(key, keys.size);
    return keys.get(key)!;
  });
  const picked = pickValidationRows(keyOfRow, [...keys.keys()], valSamples, seed, compareKeys);
  const validation = picked.map((k) => rows[k]!);
  const validationIds = new Set(validation.map(idOf));
  const training = rows.filter((row) => !validationIds.has(idOf(row)));
  return { training, validation };
}

/**
 * The validation half of the split on row positions only, so that a streamed CSV needs to keep
 * just one int32 per row: `keyOfRow[k]` indexes `keys` (the class of row k), −1 for no class.
 * Returns the picked positions, grouped by class in sorted key order.
 */
export function pickValidationRows(
  keyOfRow: Int32Array,
  keys: readonly string[],
  valSamples: number,
  seed: number,
  compareKeys: (a: string, b: string) => number,
): number[] {
  // Counting sort of positions by class: each group keeps input order, as pandas' groupby does.
  const counts = new Int32Array(keys.length);
  for (const key of keyOfRow) if (key >= 0) counts[key]!++;
  const starts = new Int32Array(keys.length + 1);
  for (let key = 0; key < keys.length; key++) starts[key + 1] = starts[key]! + counts[key]!;
  const positions = new Int32Array(starts[keys.length]!);
  const fill = starts.slice(0, keys.length);
  keyOfRow.forEach((key, position) => {
    if (key >= 0) positions[fill[key]!++] = position;
  });

  const random = new LegacyRandomState(seed);
  const picked: number[] = [];
  const order = keys.map((_, key) => key).sort((a, b) => compareKeys(keys[a]!, keys[b]!));
  for (const key of order) {
    const group = positions.subarray(starts[key]!, starts[key + 1]!);
    if (valSamples > group.length) {
      throw new SplitError(`class ${JSON.stringify(keys[key])} has ${group.length} row(s), fewer than valSamples=${valSamples}`);
    }
    for (const k of random.permutation(group.length).slice(0, valSamples)) picked.push(group[k]!);
  }
  return picked;
}
