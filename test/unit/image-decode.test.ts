import assert from 'node:assert/strict';
import path from 'node:path';
import { before, test } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { decodeImageInto, resolveImagePath } from '../../lib/image/decode.ts';
import { tempDir } from '../support/environment.ts';

let dir: string;
const SIZE = 16;

/** A solid-colour image in the given format: decoding should give back that colour as RGB. */
async function solid(
  name: string,
  width: number,
  height: number,
  rgb: [number, number, number],
  make: (s: Sharp) => Sharp,
) {
  const file = path.join(dir, name);
  await make(sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })).toFile(
    file,
  );
  return file;
}

async function decode(file: string, size = SIZE, normalize: 'none' | 'imagenet' = 'none') {
  const out = new Float32Array(3 * size * size);
  await decodeImageInto(file, size, normalize, out, 0);
  return out;
}

const channelMeans = (t: Float32Array, size = SIZE) =>
  [0, 1, 2].map((c) => t.subarray(c * size * size, (c + 1) * size * size).reduce((a, b) => a + b, 0) / (size * size));

before(() => {
  dir = tempDir('decode');
});

test('RGB becomes float32 CHW of x / 255, exactly', async () => {
  const file = await solid('rgb.png', SIZE, SIZE, [255, 128, 0], (s) => s.png());
  const t = await decode(file);
  assert.equal(t[0], 1);
  assert.equal(t[SIZE * SIZE], Math.fround(128 / 255), 'the green plane follows the red plane (CHW)');
  assert.equal(t[2 * SIZE * SIZE], 0);
});

test('grayscale, alpha and CMYK inputs become RGB', async () => {
  const gray = await solid('gray.png', SIZE, SIZE, [100, 100, 100], (s) => s.grayscale().png());
  const [r, g, b] = channelMeans(await decode(gray));
  assert.ok(Math.abs(r! - 100 / 255) < 0.01 && r === g && g === b, `gray: ${r} ${g} ${b}`);

  const alpha = await solid('alpha.png', SIZE, SIZE, [10, 200, 30], (s) => s.ensureAlpha(0.5).png());
  assert.deepEqual((await decode(alpha)).slice(0, 1), new Float32Array([10 / 255]), 'alpha is dropped, colour kept');

  const cmyk = await solid('cmyk.jpg', SIZE, SIZE, [200, 40, 40], (s) =>
    s.toColourspace('cmyk').jpeg({ quality: 100 }),
  );
  assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  const [cr, cg, cb] = channelMeans(await decode(cmyk));
  assert.ok(cr! > 0.6 && cg! < 0.35 && cb! < 0.35, `CMYK red stays red: ${cr} ${cg} ${cb}`);
});

test('images not at imgSize are resized to imgSize × imgSize', async () => {
  const wide = await solid('wide.jpg', 40, 20, [0, 0, 255], (s) => s.jpeg());
  const t = await decode(wide, 24);
  assert.equal(t.length, 3 * 24 * 24);
  const [r, , b] = channelMeans(t, 24);
  assert.ok(b! > 0.9 && r! < 0.1);
});

test('imagenet normalisation subtracts the mean and divides by the std', async () => {
  const file = await solid('norm.png', SIZE, SIZE, [255, 255, 255], (s) => s.png());
  const t = await decode(file, SIZE, 'imagenet');
  assert.ok(Math.abs(t[0]! - (1 - 0.485) / 0.229) < 1e-6);
});

test('a file that is not an image fails with a decoder message', async () => {
  const { writeFileSync } = await import('node:fs');
  const bad = path.join(dir, 'text.jpg');
  writeFileSync(bad, 'hello');
  await assert.rejects(decode(bad), /unsupported image format|Input file/i);
});

test('image ids cannot leave the image folder', () => {
  assert.throws(() => resolveImagePath('/data/images', '../secret.jpg'), /points outside the image folder/);
  assert.throws(() => resolveImagePath('/data/images', '/etc/passwd'), /is an absolute path/);
  assert.equal(resolveImagePath('/data/images', 'a/b.jpg'), '/data/images/a/b.jpg');
});
