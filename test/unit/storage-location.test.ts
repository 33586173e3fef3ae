import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../lib/core/errors.ts';
import { formatLocation, isUri, isWithin, joinLocation, parseLocation } from '../../lib/storage/location.ts';

test('local paths resolve as before; s3:// URIs keep bucket and key', () => {
  assert.deepEqual(parseLocation('data/rooms', '/work'), { kind: 'local', path: '/work/data/rooms' });
  assert.deepEqual(parseLocation('/abs/out'), { kind: 'local', path: '/abs/out' });
  assert.deepEqual(parseLocation('s3://my-bucket/datasets/rooms/'), {
    kind: 's3',
    bucket: 'my-bucket',
    key: 'datasets/rooms',
  });
  assert.deepEqual(parseLocation('s3://my-bucket'), { kind: 's3', bucket: 'my-bucket', key: '' });
  assert.deepEqual(parseLocation('S3://my-bucket//a//b'), { kind: 's3', bucket: 'my-bucket', key: 'a/b' });
  assert.equal(formatLocation(parseLocation('s3://my-bucket/out/run1')), 's3://my-bucket/out/run1');
  assert.ok(isUri('s3://b/x') && !isUri('/tmp/x') && !isUri('C-drive/x'));
});

test('other schemes, bad bucket names and dot segments are refused by name', () => {
  const refused = (text: string, pattern: RegExp) =>
    assert.throws(
      () => parseLocation(text),
      (error: unknown) => error instanceof InputError && pattern.test(error.message),
    );
  refused('gs://bucket/x', /^gs:\/\/bucket\/x: the gs:\/\/ scheme is not supported.*S3-compatible endpoint/);
  refused('az://container/x', /az:\/\/ scheme is not supported/);
  refused('s3://Bad_Bucket/x', /"Bad_Bucket" is not a valid S3 bucket name/);
  refused('s3://bucket/a/../b', /"\." and "\.\." are not allowed/);
});

test('joining and containment work alike for folders and prefixes', () => {
  const out = parseLocation('s3://bucket/out');
  assert.equal(
    formatLocation(joinLocation(out, 'shards/train-000.parquet')),
    's3://bucket/out/shards/train-000.parquet',
  );
  assert.equal(formatLocation(joinLocation(parseLocation('s3://bucket'), 'x')), 's3://bucket/x');
  assert.ok(isWithin(parseLocation('s3://bucket/out/run1'), out));
  assert.ok(isWithin(out, out));
  assert.ok(!isWithin(parseLocation('s3://bucket/output'), out), 'a sibling prefix is not inside');
  assert.ok(!isWithin(parseLocation('s3://other/out/x'), out));
  assert.ok(isWithin(parseLocation('/data/a/b'), parseLocation('/data')));
  assert.ok(!isWithin(parseLocation('/data2'), parseLocation('/data')));
  assert.ok(!isWithin(parseLocation('/data'), out));
});
