import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { parseRunConfig } from '../../lib/core/run-config.ts';
import { buildRunConfig, kebabCase } from '../../cli/run-options.ts';

test('defaults follow the notebook', () => {
  const parsed = parseRunConfig({ data: '/d', out: '/o' });
  assert.ok(parsed.ok);
  const c = parsed.config;
  assert.deepEqual(
    [
      c.csv,
      c.images,
      c.idColumn,
      c.classColumn,
      c.imgSize,
      c.batchSize,
      c.valSamples,
      c.seed,
      c.output,
      c.normalize,
      c.executionProvider,
    ],
    ['train.csv', 'images', 'image_id', 'hotel_id', 256, 32, 1, 42, 4, 'none', 'cpu'],
  );
  assert.equal(c.shardSize, 1024);
});

test('one message lists every bad field', () => {
  const parsed = parseRunConfig({ data: '/d', out: '/o', batchSize: 0, imgSize: '256', seed: -1, colour: 'red' });
  assert.ok(!parsed.ok);
  for (const field of ['batchSize', 'imgSize', 'seed']) assert.match(parsed.message, new RegExp(`${field}:`));
  assert.match(parsed.message, /colour/, 'unknown fields are named');
});

test('relative paths in a workflow input are refused by name, with the other bad fields', () => {
  const parsed = parseRunConfig({ data: 'rooms', out: '/out', model: 'm.onnx', reuse: ['/ok', 'old'], batchSize: -3 });
  assert.ok(!parsed.ok);
  for (const field of ['data', 'model', 'reuse.1'])
    assert.match(
      parsed.message,
      new RegExp(`${field.replace('.', '\\.')}: a relative path means nothing to a worker on another machine`),
    );
  assert.match(parsed.message, /batchSize:/);
  assert.doesNotMatch(parsed.message, /out:|reuse\.0:/);
  assert.ok(parseRunConfig({ data: '/d', out: 's3://bucket/out' }).ok, 'a URI is not relative');
  assert.ok(
    parseRunConfig({ data: '/d', out: '/o', model: 'models/efficientnet-lite0.onnx' }).ok,
    "the default names tessera's own",
  );
});

test('--data s3:// is kept as a URI; an s3:// out or reuse is refused before anything starts, not turned into a folder named s3:', () => {
  assert.equal(
    buildRunConfig({ data: 's3://bucket/datasets/rooms', out: '/tmp/out' }).data,
    's3://bucket/datasets/rooms',
  );
  assert.throws(
    () => buildRunConfig({ data: 's3://bucket/datasets/rooms', out: 's3://bucket/out' }),
    /^UsageError: --out s3:\/\/bucket\/out: this version of tessera reads the dataset and the model from object storage \(--data, --model s3:\/\/…\) but keeps --out in a local folder/,
  );
  assert.throws(
    () => buildRunConfig({ data: 'd', out: 'o', reuse: 's3://bucket/old' }),
    /--reuse s3:\/\/bucket\/old: /,
  );
});

test('missing data and out are reported', () => {
  const parsed = parseRunConfig({});
  assert.ok(!parsed.ok);
  assert.match(parsed.message, /data:.*out:/);
});

test('CLI flags are the schema fields in kebab-case, numbers where the field takes numbers', () => {
  assert.equal(kebabCase('shardSize'), 'shard-size');
  const config = buildRunConfig({ data: 'd', out: 'o', 'batch-size': '8', output: 'level_3', 'val-samples': '2' });
  assert.equal(config.batchSize, 8);
  assert.equal(config.output, 'level_3');
  assert.equal(config.valSamples, 2);
  assert.equal(buildRunConfig({ data: 'd', out: 'o', output: '2' }).output, 2, 'a numeric --output is a level index');
  assert.ok(config.data.startsWith('/') && config.out.startsWith('/'), 'paths become absolute');
  assert.throws(() => buildRunConfig({ data: 'd', out: 'o', 'batch-size': 'many' }), /batchSize \(--batch-size\)/);
  assert.deepEqual(buildRunConfig({ data: 'd', out: 'o', splits: 'train,val' }).splits, ['train', 'val']);
  const enums = buildRunConfig({ data: 'd', out: 'o', 'execution-provider': 'cuda', normalize: 'imagenet' });
  assert.deepEqual([enums.executionProvider, enums.normalize], ['cuda', 'imagenet'], 'enum flags stay text');
  assert.equal(buildRunConfig({ data: 'd', out: 'o', csv: '2024.csv', images: 'imgs' }).csv, '2024.csv');
  assert.throws(() => buildRunConfig({ data: 'd', out: 'o', splits: 'train,test' }), /splits/);
  assert.throws(() => buildRunConfig({ data: 'd', out: 'o', splits: 'val,val' }), /each split at most once/);
});

test('a config file in a bucket: its relative paths are keys under its prefix, absolute paths and URIs stay', () => {
  const text = JSON.stringify({ data: 'datasets/rooms', out: '/runs/rooms', model: 's3://models/m.onnx', seed: 7 });
  const config = buildRunConfig({}, 's3://team-bucket/configs/rooms.json', text);
  assert.equal(config.data, 's3://team-bucket/configs/datasets/rooms');
  assert.equal(config.out, '/runs/rooms');
  assert.equal(config.model, 's3://models/m.onnx');
  assert.equal(config.seed, 7);
  assert.equal(buildRunConfig({ data: 'd' }, 's3://team-bucket/configs/rooms.json', text).data, path.resolve('d'));
});
