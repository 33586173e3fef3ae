/**
 * The storage interface's two implementations behave alike (a local folder, and a prefix of a real
 * S3-compatible server on loopback: moto), and S3's particular contracts hold: checked multipart
 * uploads that leave nothing behind when they fail, conditional writes, errors that name the URI.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { InputError } from '../../lib/core/errors.ts';
import { LocalStore } from '../../lib/storage/local-store.ts';
import { ObjectLease } from '../../lib/storage/object-lease.ts';
import { parseLocation } from '../../lib/storage/location.ts';
import type { ObjectStore } from '../../lib/storage/object-store.ts';
import { probeConditionalWrites, Stores } from '../../lib/storage/open-store.ts';
import { s3ClientFromEnvironment } from '../../lib/storage/s3-client.ts';
import { StoreUnavailableError } from '../../lib/storage/s3-errors.ts';
import { S3Store } from '../../lib/storage/s3-store.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { startRcloneS3, startS3Server, type S3Server } from '../support/s3-server.ts';
import { tempDir } from '../support/temp-dir.ts';

let server: S3Server;
let stores: Stores;
const BUCKET = 'tessera-store-test';

before(async () => {
  server = await startS3Server();
  Object.assign(process.env, server.env); // the SDK's credential chain reads the environment
  await server.createBucket(BUCKET);
  stores = new Stores(() => s3ClientFromEnvironment(process.env));
});
after(async () => {
  stores?.close();
  await server?.stop();
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
/** Deterministic bytes that differ along the whole body, so a misplaced range shows. */
const bytesOf = (length: number, seed = 1) => {
  const body = Buffer.alloc(length);
  for (let k = 0, x = seed; k < length; k++) body[k] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return body;
};
async function* chunksOf(body: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < body.byteLength; offset += size) yield body.subarray(offset, offset + size);
}
const keysOf = async (store: ObjectStore, prefix: string) => {
  const keys: string[] = [];
  for await (const item of store.list(prefix)) keys.push(item.key);
  return keys;
};

const implementations: [string, () => ObjectStore][] = [
  ['a local folder', () => new LocalStore(tempDir('store'))],
  ['an S3 prefix', () => stores.open(parseLocation(`s3://${BUCKET}/runs/${Math.random().toString(36).slice(2)}`))],
];

for (const [name, open] of implementations) {
  describe(`the object store on ${name}`, () => {
    test('writes, reads, stats, lists in key order and deletes', async () => {
      const store = open();
      const body = bytesOf(1000);
      const written = await store.write('shards/b.parquet', body);
      assert.equal(written.sha256, sha256(body));
      assert.equal(written.size, 1000);
      await store.write('shards/a.parquet', bytesOf(10, 2));
      await store.write('manifest.json', new TextEncoder().encode('{}'));
      assert.deepEqual(Buffer.from((await store.read('shards/b.parquet'))!), body);
      const stat = await store.stat('shards/b.parquet');
      assert.equal(stat?.size, 1000);
      assert.equal(stat?.tag, written.tag);
      assert.deepEqual(await keysOf(store, 'shards/'), ['shards/a.parquet', 'shards/b.parquet']);
      assert.deepEqual(await keysOf(store, ''), ['manifest.json', 'shards/a.parquet', 'shards/b.parquet']);
      await store.delete('shards/a.parquet');
      await store.delete('shards/never-there.parquet');
      assert.deepEqual(await keysOf(store, 'shards/'), ['shards/b.parquet']);
      assert.equal(await store.read('shards/a.parquet'), undefined);
      assert.equal(await store.stat('shards/a.parquet'), undefined);
    });

    test('a replaced object gets a new tag; ranged reads return exactly the asked bytes', async () => {
      const store = open();
      const first = await store.write('x.bin', bytesOf(4096, 3));
      const second = await store.write('x.bin', bytesOf(4096, 4));
      assert.notEqual(first.tag, second.tag);
      const range = await store.readRange('x.bin', 1000, 100);
      assert.deepEqual(Buffer.from(range), bytesOf(4096, 4).subarray(1000, 1100));
      assert.equal((await store.readRange('x.bin', 4090, 100)).byteLength, 6, 'fewer at the end');
    });

    test('a streamed body larger than one part arrives whole, hashed in flight', async () => {
      const store = open();
      const body = bytesOf(20 * 1024 * 1024 + 123, 5);
      const written = await store.write('vectors.parquet', chunksOf(body, 1 << 20));
      assert.equal(written.sha256, sha256(body));
      assert.equal(written.size, body.byteLength);
      assert.equal(sha256((await store.read('vectors.parquet'))!), sha256(body));
      const tail = await store.readRange('vectors.parquet', body.byteLength - 8, 8);
      assert.deepEqual(Buffer.from(tail), body.subarray(body.byteLength - 8));
    });

    test('a body that fails mid-way leaves no object', async () => {
      const store = open();
      async function* failing(): AsyncIterable<Uint8Array> {
        yield bytesOf(9 * 1024 * 1024, 6);
        throw new Error('the source broke');
      }
      await assert.rejects(store.write('half.parquet', failing()), /the source broke/);
      assert.equal(await store.stat('half.parquet'), undefined);
      assert.deepEqual(await keysOf(store, ''), [], 'no temp file or object left');
    });
  });
}

describe('S3 only', () => {
  test('a failed multipart upload is aborted: no upload is left open in the bucket', async () => {
    const store = stores.open(parseLocation(`s3://${BUCKET}/aborted`));
    async function* failing(): AsyncIterable<Uint8Array> {
      yield bytesOf(17 * 1024 * 1024, 7); // two whole parts uploaded before the failure
      throw new Error('the source broke');
    }
    await assert.rejects(store.write('big.parquet', failing()), /the source broke/);
    const open = await server.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'aborted/' }));
    assert.deepEqual(open.Uploads ?? [], []);
  });

  test('conditional writes: create once, replace only on the tag last seen', async () => {
    const store = stores.open(parseLocation(`s3://${BUCKET}/lease-test`)) as S3Store;
    const created = await store.createIfAbsent('lease.json', new TextEncoder().encode('{"holder":"a"}'));
    assert.ok(created);
    assert.equal(await store.createIfAbsent('lease.json', new TextEncoder().encode('{"holder":"b"}')), undefined);
    const renewed = await store.replaceIfMatch(
      'lease.json',
      new TextEncoder().encode('{"holder":"a","n":2}'),
      created.tag,
    );
    assert.ok(renewed);
    assert.equal(
      await store.replaceIfMatch('lease.json', new TextEncoder().encode('{"holder":"b"}'), created.tag),
      undefined,
    );
    assert.equal(new TextDecoder().decode(await store.read('lease.json')), '{"holder":"a","n":2}');
  });

  test('the conditional-write probe passes on a store that honours If-None-Match', async () => {
    const location = parseLocation(`s3://${BUCKET}/probe`);
    await probeConditionalWrites(stores.open(location) as S3Store, location);
    assert.deepEqual(await keysOf(stores.open(location), ''), [], 'the probe object is removed');
  });

  test('a missing bucket is an input error naming the URI and the cause', async () => {
    const store = stores.open(parseLocation('s3://no-such-bucket-here/data'));
    await assert.rejects(store.stat('train.csv'), (error: unknown) => {
      assert.ok(error instanceof InputError, String(error));
      assert.match(error.message, /^s3:\/\/no-such-bucket-here\/data\/train\.csv: the bucket does not exist/);
      return true;
    });
  });

  test('an unreachable endpoint is named within seconds, without credentials in the message', async () => {
    const unreachable = new Stores(() =>
      s3ClientFromEnvironment({ ...process.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' }),
    );
    const started = Date.now();
    try {
      const store = unreachable.open(parseLocation(`s3://${BUCKET}/data`));
      await assert.rejects(store.read('train.csv'), (error: unknown) => {
        assert.ok(error instanceof StoreUnavailableError, String(error)); // retryable: the store may come back
        assert.match(error.message, /s3:\/\/tessera-store-test\/data\/train\.csv: cannot reach the S3 endpoint/);
        assert.doesNotMatch(error.message, /tessera-test-secret/);
        return true;
      });
    } finally {
      unreachable.close();
    }
    assert.ok(Date.now() - started < 30_000, 'retries are bounded');
  });
});

test('a store that ignores conditional writes (rclone serve s3) is refused for the lease, and still read', async () => {
  const dir = tempDir('rclone');
  fs.mkdirSync(path.join(dir, 'datasets', 'rooms'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'datasets', 'rooms', 'train.csv'), 'image_id,hotel_id\na.jpg,1\n');
  const rclone = await startRcloneS3(dir);
  const rcloneStores = new Stores(() => s3ClientFromEnvironment({ ...process.env, ...rclone.env }));
  try {
    const location = parseLocation('s3://datasets/out');
    await assert.rejects(probeConditionalWrites(rcloneStores.open(location) as S3Store, location), (error: unknown) => {
      assert.ok(error instanceof InputError, String(error));
      assert.match(error.message, /^s3:\/\/datasets\/out: the store accepted a second If-None-Match: \* write/);
      return true;
    });
    const data = rcloneStores.open(parseLocation('s3://datasets/rooms'));
    assert.equal(new TextDecoder().decode(await data.read('train.csv')), 'image_id,hotel_id\na.jpg,1\n');
  } finally {
    rcloneStores.close();
    await rclone.stop();
  }
});

test('throttling, connections reset mid-object and stalls are retried: nothing is lost', async () => {
  const proxy = await startFaultProxy(server.endpoint);
  const faulty = new Stores(() =>
    s3ClientFromEnvironment({ ...process.env, AWS_ENDPOINT_URL_S3: proxy.endpoint }, { idleMs: 1_000 }),
  );
  try {
    const store = faulty.open(parseLocation(`s3://${BUCKET}/faults`));
    const isPut = (request: { method?: string }) => request.method === 'PUT';
    const isGet = (request: { method?: string }) => request.method === 'GET';
    proxy.inject([{ kind: 'slow-down' }, { kind: 'slow-down' }], isPut);
    const small = bytesOf(2 * 1024 * 1024, 8);
    await store.write('small.bin', small);
    const large = bytesOf(12 * 1024 * 1024, 9);
    proxy.inject([{ kind: 'slow-down' }, { kind: 'slow-down' }], isPut); // parts of the multipart upload
    await store.write('large.bin', chunksOf(large, 1 << 20));

    assert.equal(proxy.pending, 0, 'every throttled PUT was tried again');
    proxy.inject([{ kind: 'reset-mid-body' }, { kind: 'reset-mid-body' }], isGet);
    const before = proxy.requests;
    assert.equal(sha256((await store.read('small.bin'))!), sha256(small));
    assert.equal(proxy.requests - before, 3, 'two bodies cut off, the third whole');
    proxy.inject([{ kind: 'stall', ms: 3_000 }], isGet);
    assert.equal(sha256((await store.read('large.bin'))!), sha256(large));
    proxy.inject([{ kind: 'slow-down' }, { kind: 'reset-mid-body' }], isGet);
    assert.deepEqual(
      Buffer.from(await store.readRange('large.bin', 5_000_000, 1_000)),
      large.subarray(5_000_000, 5_001_000),
    );
    proxy.inject([{ kind: 'slow-down' }]);
    assert.deepEqual(await keysOf(store, ''), ['large.bin', 'small.bin']);
    assert.equal(proxy.pending, 0);
    const open = await server.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'faults/' }));
    assert.deepEqual(open.Uploads ?? [], []);
  } finally {
    faulty.close();
    await proxy.stop();
  }
});

describe('the output lease as an object', () => {
  const holder = (owner: string) => ({ host: 'machine-a', pid: 1, startedAt: '2026-12-07T00:00:00Z', owner });
  const leaseStore = () =>
    stores.open(parseLocation(`s3://${BUCKET}/lease/${Math.random().toString(36).slice(2)}`)) as S3Store;

  test('one holder at a time: the other is refused naming the holder, and gets it once released', async () => {
    const store = leaseStore();
    const first = new ObjectLease(store, '.tessera/lease.json');
    const second = new ObjectLease(store, '.tessera/lease.json');
    assert.deepEqual(await first.tryAcquire(holder('tessera run A')), { acquired: true });
    const refused = await second.tryAcquire(holder('tessera run B'));
    assert.equal(refused.acquired, false);
    assert.equal(!refused.acquired && refused.holder?.owner, 'tessera run A');
    assert.ok(await first.renew());
    assert.ok(await first.renew());
    await first.release();
    assert.deepEqual(await second.tryAcquire(holder('tessera run B')), { acquired: true });
  });

  test('a silent holder is taken over after the ttl on the observer’s own clock; it then knows it lost', async () => {
    const store = leaseStore();
    let clock = 0;
    const silent = new ObjectLease(store, 'lease.json');
    const observer = new ObjectLease(store, 'lease.json', { ttlMs: 30_000, now: () => clock });
    await silent.tryAcquire(holder('crashed run'));
    assert.equal((await observer.tryAcquire(holder('next run'))).acquired, false, 'first seen now');
    clock += 29_000;
    assert.equal((await observer.tryAcquire(holder('next run'))).acquired, false, 'not silent long enough');
    assert.ok(await silent.renew(), 'a renewal changes the ETag');
    clock += 29_000;
    assert.equal((await observer.tryAcquire(holder('next run'))).acquired, false, 'the renewal restarted the wait');
    clock += 30_000;
    assert.deepEqual(await observer.tryAcquire(holder('next run')), { acquired: true });
    assert.equal(await silent.renew(), false, 'the old holder learns it lost the lease');
    const dead = new ObjectLease(store, 'lease.json', { isDead: (record) => record.owner === 'next run' });
    assert.deepEqual(await dead.tryAcquire(holder('third run')), { acquired: true }, 'a holder known dead at once');
  });

  test('eight processes racing for a free lease: exactly one gets it', async () => {
    const store = leaseStore();
    const attempts = await Promise.all(
      Array.from({ length: 8 }, (_, k) => new ObjectLease(store, 'lease.json').tryAcquire(holder(`run ${k}`))),
    );
    assert.equal(attempts.filter((attempt) => attempt.acquired).length, 1);
  });
});
