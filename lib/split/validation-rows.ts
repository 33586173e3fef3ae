import { LegacyRandomState } from '../pandas/mt19937.ts';

export class SplitError extends Error {
  override name = 'SplitError';
}

/**
 * The notebook's split, step for step:
 *   val = df.groupby(classColumn).sample(valSamples, random_state=seed)
 *   train = df[~df[idColumn].isin(val[idColumn])]
 * This is its first line on row positions only, so that a streamed CSV needs to keep just one
 * int32 per row: `keyOfRow[k]` indexes `keys` (the class of row k), −1 for no class (NaN, which
 * joins no group, as with dropna=True). Groups are visited in sorted key order (`compareKeys`,
 * pandas' order for the column's type) and each draws `permutation(groupSize)[:valSamples]` from
 * one shared RandomState, so the picked positions come out grouped by class. prepare-split.ts
 * does the second line (isin) while it writes training.csv.
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
      throw new SplitError(
        `class ${JSON.stringify(keys[key])} has ${group.length} row(s), fewer than valSamples=${valSamples}`,
      );
    }
    for (const k of random.permutation(group.length).slice(0, valSamples)) picked.push(group[k]!);
  }
  return picked;
}
