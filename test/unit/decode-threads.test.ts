import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import type { RunConfig } from '../../lib/core/run-config.ts';
import { decodeBatch } from '../../lib/extract/decode-batch.ts';
import { DecodeThreads, sharedPixels } from '../../lib/extract/decode-threads.ts';
import { decodeRgbInto } from '../../lib/image/decode.ts';
import { jpegTurbo } from '../../lib/image/jpeg-turbo.ts';
import { occlusionFor } from '../../lib/image/occlusion.ts';
import type { ShardImage } from '../../lib/run-folder/records.ts';
import { tempDir } from '../support/environment.ts';

const SIZE = 64;
const PER_IMAGE = 3 * SIZE * SIZE;
const config = { imgSize: SIZE, seed: 42 } as RunConfig;

function noise(width: number, height: number, seed: number): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  let state = seed >>> 0;
  for (let k = 0; k < pixels.length; k++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    pixels[k] = (state >>> 24) ^ (k % 97);
  }
  return pixels;
}

/** Plain JPEGs at the model size (libjpeg-turbo's case), others sharp must resize or decode, and bad files. */
async function imageFolder() {
  const dir = tempDir('decode-threads');
  const images = path.join(dir, 'images');
  fs.mkdirSync(images);
  const write = (name: string, width: number, height: number, seed: number, encode: (s: Sharp) => Sharp) =>
    encode(sharp(noise(width, height, seed), { raw: { width, height, channels: 3 } })).toFile(path.join(images, name));
  const good: string[] = [];
  for (let k = 0; k < 12; k++) {
    const name = `plain-${k}.jpg`;
    await write(name, SIZE, SIZE, k + 1, (s) => s.jpeg({ quality: 80 + k }));
    good.push(name);
  }
  await write('larger.jpg', 90, 70, 99, (s) => s.jpeg());
  await write('picture.png', SIZE, SIZE, 98, (s) => s.png());
  await write('progressive.jpg', SIZE, SIZE, 97, (s) => s.jpeg({ progressive: true }));
  good.push('larger.jpg', 'picture.png', 'progressive.jpg');
  fs.writeFileSync(path.join(images, 'empty.jpg'), '');
  fs.writeFileSync(path.join(images, 'text.jpg'), 'not a picture at all');
  const whole = fs.readFileSync(path.join(images, 'plain-0.jpg'));
  fs.writeFileSync(path.join(images, 'truncated.jpg'), whole.subarray(0, whole.length >> 1));
  fs.writeFileSync(path.join(dir, 'secret.jpg'), whole);
  fs.symlinkSync(path.join(dir, 'secret.jpg'), path.join(images, 'outside.jpg'));
  const bad: Record<string, RegExp> = {
    'missing.jpg': /image file .*missing\.jpg does not exist/,
    'empty.jpg': /image file is empty \(0 bytes\)/,
    'text.jpg': /not an image in a format sharp decodes/,
    'truncated.jpg': /jpeg image is truncated or corrupt/,
    'outside.jpg': /image resolves outside the image folder and the folders this worker may use \(.*secret\.jpg\)/,
  };
  return { root: fs.realpathSync(images), good, bad };
}

const decoders = new DecodeThreads(3);
after(() => decoders.close());

const asShardImages = (ids: string[]): ShardImage[] =>
  ids.map((imageId, ordinal) => ({ imageId, ordinal, target: ordinal % 3 }));

/** The pixels decodeRgbInto gives in this thread, occlusion hole included on `val`. */
async function expectedPixels(root: string, id: string, split: 'train' | 'val'): Promise<Buffer> {
  const target = new Uint8Array(PER_IMAGE);
  const hole = split === 'val' ? occlusionFor(config.seed, id, SIZE) : undefined;
  await decodeRgbInto(fs.readFileSync(path.join(root, id)), SIZE, target, 0, hole);
  return Buffer.from(target);
}

test('decode threads give the pixels decodeRgbInto gives here, hole included, and the sha256 of the bytes read', async () => {
  const { root, good } = await imageFolder();
  for (const split of ['train', 'val'] as const) {
    const batch = await decodeBatch(
      asShardImages(good),
      config,
      split,
      { decoders, root, linkTargets: [] },
      sharedPixels(good.length * PER_IMAGE),
    );
    assert.deepEqual(batch.errors, []);
    assert.deepEqual(
      batch.images.map((image) => image.imageId),
      good,
    );
    for (const [slot, id] of good.entries()) {
      const got = Buffer.from(batch.pixels.subarray(slot * PER_IMAGE, (slot + 1) * PER_IMAGE));
      assert.ok(got.equals(await expectedPixels(root, id, split)), `${split} ${id}: pixels differ`);
      const sha256 = createHash('sha256')
        .update(fs.readFileSync(path.join(root, id)))
        .digest('hex');
      assert.deepEqual(batch.lineage[slot], [slot, id, slot % 3, sha256]);
    }
  }
});

test('bad files become errors naming what is wrong; the good ones close the gaps, in plan order', async () => {
  const { root, good, bad } = await imageFolder();
  const ids = [
    good[0]!,
    'missing.jpg',
    good[1]!,
    'empty.jpg',
    'text.jpg',
    good[12]!,
    'truncated.jpg',
    'outside.jpg',
    good[13]!,
  ];
  const batch = await decodeBatch(
    asShardImages(ids),
    config,
    'train',
    { decoders, root, linkTargets: [] },
    sharedPixels(ids.length * PER_IMAGE),
  );
  const decoded = [good[0]!, good[1]!, good[12]!, good[13]!];
  assert.deepEqual(
    batch.images.map((image) => image.imageId),
    decoded,
  );
  for (const [slot, id] of decoded.entries()) {
    assert.ok(
      Buffer.from(batch.pixels.subarray(slot * PER_IMAGE, (slot + 1) * PER_IMAGE)).equals(
        await expectedPixels(root, id, 'train'),
      ),
      `${id} moved with its pixels`,
    );
  }
  assert.deepEqual(
    batch.errors.map((error) => error.imageId),
    Object.keys(bad),
  );
  for (const error of batch.errors) {
    assert.match(error.reason, bad[error.imageId]!, error.imageId);
    assert.equal(error.position, ids.indexOf(error.imageId));
    assert.equal(error.stage, 'extract');
  }
  const hashes = Object.fromEntries(batch.lineage.map(([, id, , sha256]) => [id, sha256]));
  assert.equal(hashes['missing.jpg'], null, 'nothing read, nothing hashed');
  assert.equal(hashes['outside.jpg'], null, 'a file outside the folder is not even read');
  assert.equal(
    hashes['truncated.jpg'],
    createHash('sha256')
      .update(fs.readFileSync(path.join(root, 'truncated.jpg')))
      .digest('hex'),
    'read, then refused: its bytes are recorded',
  );
});

test(
  'batches in flight at once and batches smaller than the pool all decode whole; after close, none is taken',
  { timeout: 60_000 },
  async () => {
    const { root, good } = await imageFolder();
    const batches = [good.slice(0, 1), good.slice(1, 9), good.slice(9), []];
    const results = await Promise.all(
      batches.map((ids) =>
        decodeBatch(
          asShardImages(ids),
          config,
          'val',
          { decoders, root, linkTargets: [] },
          sharedPixels(Math.max(1, ids.length) * PER_IMAGE),
        ),
      ),
    );
    for (const [k, ids] of batches.entries()) {
      assert.deepEqual(
        results[k]!.images.map((image) => image.imageId),
        ids,
      );
      for (const [slot, id] of ids.entries()) {
        assert.ok(
          Buffer.from(results[k]!.pixels.subarray(slot * PER_IMAGE, (slot + 1) * PER_IMAGE)).equals(
            await expectedPixels(root, id, 'val'),
          ),
          id,
        );
      }
    }
    const closing = new DecodeThreads(2);
    const waiting = assert.rejects(
      decodeBatch(
        asShardImages(good.slice(0, 2)),
        config,
        'train',
        { decoders: closing, root, linkTargets: [] },
        sharedPixels(2 * PER_IMAGE),
      ),
      /decode threads (closed|stopped)/,
      'a batch waiting for the threads to start fails, it does not hang',
    );
    await closing.close();
    await waiting;
    await assert.rejects(
      decodeBatch(
        asShardImages(good.slice(0, 2)),
        config,
        'train',
        { decoders: closing, root, linkTargets: [] },
        sharedPixels(2 * PER_IMAGE),
      ),
      /decode threads are closed/,
    );
  },
);

test("a batch of a later place waits while one of an earlier place is in the threads; the earlier shard's next batch goes first", async () => {
  const { root, good } = await imageFolder();
  const order: string[] = [];
  const decode = (name: string, place: number) =>
    decodeBatch(
      asShardImages(good.slice(0, 6)),
      config,
      'train',
      { decoders, root, linkTargets: [], place },
      sharedPixels(6 * PER_IMAGE),
    ).then((batch) => {
      order.push(name);
      return batch;
    });
  // Shard 0 pipelines (its next batch asked for as the last one is done); shard 1, started in its
  // tail, asks at once. Sent in arrival order, shard 1's batch would land between shard 0's two.
  const first = decode('shard 0 batch 0', 0);
  const later = decode('shard 1 batch 0', 1);
  await first;
  const next = decode('shard 0 batch 1', 0);
  const [a, b] = await Promise.all([later, next]);
  assert.deepEqual(order, ['shard 0 batch 0', 'shard 0 batch 1', 'shard 1 batch 0']);
  assert.deepEqual(
    a.lineage.map((entry) => entry[3]),
    b.lineage.map((entry) => entry[3]),
    'the held batch decodes the same images',
  );
});

test('pixels the threads cannot share are refused', async () => {
  const { root, good } = await imageFolder();
  await assert.rejects(
    decoders.decode(
      { root, linkTargets: [], size: SIZE, occlusionSeed: null, imageIds: good.slice(0, 1) },
      new Uint8Array(PER_IMAGE),
    ),
    /shared memory/,
  );
  await assert.rejects(
    decoders.decode(
      { root, linkTargets: [], size: SIZE, occlusionSeed: null, imageIds: good.slice(0, 2) },
      sharedPixels(PER_IMAGE),
    ),
    /no room for 2 images/,
  );
});

test(
  'threads that would decode JPEGs with another decoder than the extraction key names are refused; the next batch starts afresh',
  { skip: !jpegTurbo() },
  async () => {
    const { root, good } = await imageFolder();
    // This process loaded libjpeg-turbo; threads started now see the variable and would use sharp.
    process.env.TESSERA_JPEG_DECODER = 'sharp';
    const others = new DecodeThreads(2);
    try {
      await assert.rejects(
        decodeBatch(
          asShardImages(good.slice(0, 2)),
          config,
          'train',
          { decoders: others, root, linkTargets: [] },
          sharedPixels(2 * PER_IMAGE),
        ),
        /a decode thread decodes JPEGs with libvips, this process with libjpeg-turbo/,
      );
      delete process.env.TESSERA_JPEG_DECODER;
      const again = await decodeBatch(
        asShardImages(good.slice(0, 2)),
        config,
        'train',
        { decoders: others, root, linkTargets: [] },
        sharedPixels(2 * PER_IMAGE),
      );
      assert.deepEqual(
        again.images.map((image) => image.imageId),
        good.slice(0, 2),
      );
    } finally {
      delete process.env.TESSERA_JPEG_DECODER;
      await others.close();
    }
  },
);
