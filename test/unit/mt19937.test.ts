import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LegacyRandomState } from '../../lib/pandas/mt19937.ts';

// Reference values printed by numpy 2.4: np.random.RandomState(seed).permutation(...) in sequence.
const NUMPY = {
  0: [[2, 8, 4, 9, 1, 6, 7, 3, 0, 5], [0], [2, 1, 0], [921, 75, 608, 630, 380]],
  42: [[8, 1, 5, 0, 7, 2, 9, 4, 3, 6], [0], [1, 0, 2], [631, 634, 963, 625, 365]],
  4294967295: [[6, 9, 5, 1, 8, 0, 7, 4, 2, 3], [0], [0, 1, 2], [917, 28, 988, 420, 23]],
} as const;

test('permutations match numpy legacy RandomState draw for draw', () => {
  for (const [seed, expected] of Object.entries(NUMPY)) {
    const random = new LegacyRandomState(Number(seed));
    assert.deepEqual(random.permutation(10), expected[0], `seed ${seed}`);
    assert.deepEqual(random.permutation(1), expected[1], `seed ${seed}`);
    assert.deepEqual(random.permutation(3), expected[2], `seed ${seed}`);
    assert.deepEqual(random.permutation(1000).slice(0, 5), expected[3], `seed ${seed}`);
  }
});

test('seeds outside numpy range are refused', () => {
  assert.throws(() => new LegacyRandomState(-1), /seed must be an integer/);
  assert.throws(() => new LegacyRandomState(2 ** 32), /seed must be an integer/);
  assert.throws(() => new LegacyRandomState(1.5), /seed must be an integer/);
});
