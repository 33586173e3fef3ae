import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planShardRanges, shardName } from '../../lib/shard-plan.ts';

test('contiguous ranges cover every image exactly once', () => {
  assert.deepEqual(planShardRanges(10, 4), [
    { shard: 0, first: 0, end: 4 },
    { shard: 1, first: 4, end: 8 },
    { shard: 2, first: 8, end: 10 },
  ]);
  assert.deepEqual(planShardRanges(8, 4).map((r) => r.end - r.first), [4, 4]);
  assert.deepEqual(planShardRanges(0, 4), []);
  assert.equal(planShardRanges(1_000_000, 1024).length, 977);
});

test('shard size must be positive; names sort in shard order', () => {
  assert.throws(() => planShardRanges(10, 0), /shardSize must be >= 1/);
  assert.equal(shardName(7), 'shard-00007');
  assert.ok(shardName(9) < shardName(10));
});
