import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../lib/core/errors.ts';
import { outputLayout } from '../../lib/run-folder/layout.ts';
import { ClassMappingSchema, ShardPlanSchema } from '../../lib/run-folder/records.ts';
import { readRecord, RecordFormatError, requireRecord, writeRecord } from '../../lib/run-folder/records-io.ts';
import { readShardReport } from '../../lib/run-folder/shard-records.ts';
import { tempDir } from '../support/environment.ts';

test('records are written with their format version and read back by schema', async () => {
  const files = outputLayout(tempDir('records')).split('train');
  fs.mkdirSync(files.plans, { recursive: true });
  await writeRecord(files.plan(0), ShardPlanSchema, {
    shard: 0,
    images: [{ ordinal: 3, imageId: 'a.jpg', target: 7 }],
  });
  assert.equal(JSON.parse(fs.readFileSync(files.plan(0), 'utf8')).format, 1);
  assert.deepEqual((await readRecord(files.plan(0), ShardPlanSchema))?.images, [
    { ordinal: 3, imageId: 'a.jpg', target: 7 },
  ]);
  assert.equal(await readRecord(files.plan(1), ShardPlanSchema), undefined, 'a missing record is undefined');
  await assert.rejects(
    requireRecord(files.plan(1), ShardPlanSchema, 'planShards'),
    /shard-00001\.json is missing: planShards did not finish/,
  );
});

test('a record without a format (a pre-release version), of another format, or damaged is refused by name', async () => {
  const files = outputLayout(tempDir('records')).split('train');
  fs.mkdirSync(files.plans, { recursive: true });
  fs.writeFileSync(files.plan(0), JSON.stringify({ shard: 0, images: [] }));
  await assert.rejects(
    readRecord(files.plan(0), ShardPlanSchema),
    (error: Error) =>
      error instanceof RecordFormatError &&
      /shard-00000\.json records no format version, which this tessera version does not read/.test(error.message),
  );
  fs.writeFileSync(files.plan(0), JSON.stringify({ format: 9, shard: 0, images: [] }));
  await assert.rejects(
    readRecord(files.plan(0), ShardPlanSchema),
    (error: Error) =>
      error instanceof RecordFormatError &&
      error instanceof InputError &&
      /shard-00000\.json is of format 9, which this tessera version does not read/.test(error.message),
  );
  fs.writeFileSync(files.plan(0), JSON.stringify({ format: 1, shard: 0, images: [{ ordinal: 'x' }] }));
  await assert.rejects(
    readRecord(files.plan(0), ShardPlanSchema),
    /shard-00000\.json is not a tessera record of its kind \(damaged\? at images\.0\.ordinal/,
  );
  fs.writeFileSync(files.plan(0), '{"shard": 0, "ima');
  await assert.rejects(readRecord(files.plan(0), ShardPlanSchema), /shard-00000\.json cannot be read as JSON/);
});

test('a shard report that cannot be trusted makes its shard be redone, naming why', async () => {
  const files = outputLayout(tempDir('records')).split('val');
  fs.mkdirSync(files.reports, { recursive: true });
  assert.deepEqual(await readShardReport(files.report(0)), { problem: 'not extracted yet' });
  fs.writeFileSync(files.report(0), JSON.stringify({ format: 1, split: 'val', shard: 0 }));
  const read = await readShardReport(files.report(0));
  assert.ok(
    'problem' in read &&
      read.problem.includes(path.basename(files.report(0))) &&
      /of a format this tessera version does not read/.test(read.problem),
  );
});

test('a class value named __proto__ keeps its target through classes.json', async () => {
  const layout = outputLayout(tempDir('records'));
  fs.mkdirSync(layout.work, { recursive: true });
  const targets = Object.fromEntries([
    ['__proto__', 0],
    ['constructor', 1],
    ['a', 2],
  ]);
  await writeRecord(layout.classMapping, ClassMappingSchema, { mode: 'codes', targets });
  const mapping = await requireRecord(layout.classMapping, ClassMappingSchema, 'prepareSplit');
  assert.ok(Object.hasOwn(mapping.targets, '__proto__'));
  assert.deepEqual(Object.entries(mapping.targets), [
    ['__proto__', 0],
    ['constructor', 1],
    ['a', 2],
  ]);
});
