import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { parseRunConfig } from '../../lib/core/run-config.ts';
import { planShards } from '../../lib/plan/plan-shards.ts';
import { runLayout, shardName } from '../../lib/run-folder/layout.ts';
import { PlanRejectsSchema, ShardPlanSchema } from '../../lib/run-folder/records.ts';
import { tempDir } from '../support/temp-dir.ts';

test('shards hold shardSize consecutive images, the last one the rest; rejected rows keep their ordinal', async () => {
  const out = tempDir('plan');
  const parsed = parseRunConfig({ data: out, out, shardSize: 4 });
  assert.ok(parsed.ok);
  const layout = runLayout(parsed.config);
  fs.mkdirSync(layout.work, { recursive: true });
  fs.writeFileSync(layout.classMapping, JSON.stringify({ format: 1, mode: 'integer', targets: { '1': 1, '2': 2 } }));
  const rows = Array.from({ length: 11 }, (_, k) =>
    k === 5 ? `${k},img_${k}.jpg,\n` : `${k},img_${k}.jpg,${1 + (k % 2)}\n`,
  );
  fs.writeFileSync(layout.trainingCsv, `,image_id,hotel_id\n${rows.join('')}`);

  const summary = await planShards(parsed.config, 'train');
  assert.deepEqual(summary.images, 11);
  assert.equal(summary.rejectedRows, 1);
  assert.equal(summary.shardCount, 3);
  const plans = [0, 1, 2].map((shard) =>
    ShardPlanSchema.parse(JSON.parse(fs.readFileSync(layout.split('train').plan(shard), 'utf8'))),
  );
  assert.deepEqual(
    plans.map((p) => p.images.map((image) => image.ordinal)),
    [
      [0, 1, 2, 3],
      [4, 6, 7, 8],
      [9, 10],
    ],
  );
  assert.deepEqual(plans[1]!.images[1], { ordinal: 6, imageId: 'img_6.jpg', target: 1 });
  const rejected = PlanRejectsSchema.parse(JSON.parse(fs.readFileSync(layout.split('train').planRejects, 'utf8')));
  assert.deepEqual(
    rejected.rejected.map((r) => [r.position, r.reason]),
    [[5, 'hotel_id is empty']],
  );
});

test('names sort in shard order', () => {
  assert.equal(shardName(7), 'shard-00007');
  assert.ok(shardName(9) < shardName(10));
});
