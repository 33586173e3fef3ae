/**
 * A million-row CSV through tessera's split, byte-identical to pandas (the committed golden file,
 * test/support/split-golden.ts): here rather than in test/unit because making the CSV alone takes
 * seconds. It needs no server.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planShards } from '../../lib/plan/plan-shards.ts';
import { tempDir } from '../support/environment.ts';
import { splitCases } from '../support/split-cases.ts';
import { splitLikePandas } from '../support/split-golden.ts';

test('a 1,000,000-row CSV is streamed: training.csv and validation.csv byte-identical to pandas, shards planned', async () => {
  const { config, summary } = await splitLikePandas(
    tempDir('split-million'),
    splitCases().find((c) => c.name === 'million')!,
  );
  const plan = await planShards(config, 'train');
  assert.equal(summary.inputRows, 1_000_000);
  assert.equal(summary.validationRows, 5000);
  assert.equal(plan.images, summary.trainingRows);
  assert.equal(plan.shardCount, Math.ceil(summary.trainingRows / 1024));
});
