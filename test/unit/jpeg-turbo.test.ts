import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { decodeRgbInto, decodeRgbWithSharp } from '../../lib/image/decode.ts';
import { isPlainJpeg, jpegTurbo } from '../../lib/image/jpeg-turbo.ts';
import { applyOcclusion, occlusionFor } from '../../lib/image/occlusion.ts';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';

const SIZE = 64;

/** Noise over gradients and edges: every IDCT coefficient and the clamping at 0 and 255 get used. */
function busyPixels(width: number, height: number, seed: number): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  let state = seed >>> 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const noise = state >>> 25;
      const edge = (x >> 3) % 2 === (y >> 3) % 2 ? 255 : 0;
      const o = (y * width + x) * 3;
      pixels[o] = (x * 4 + noise) & 255;
      pixels[o + 1] = edge ^ (noise & 31);
      pixels[o + 2] = (y * 4 + (noise >> 1)) & 255;
    }
  }
  return pixels;
}

const jpeg = (encode: (s: Sharp) => Sharp, size = SIZE, seed = 7): Promise<Buffer> =>
  encode(sharp(busyPixels(size, size, seed), { raw: { width: size, height: size, channels: 3 } })).toBuffer();

/** The pixels libjpeg-turbo makes, or null when it declines; on libuv's pool and blocking alike. */
async function turboDecode(bytes: Buffer, size = SIZE): Promise<Uint8Array | null> {
  const target = new Uint8Array(3 * size * size + 5).fill(1);
  const decoded = await jpegTurbo()!.decodeInto(bytes, size, target, 5);
  const blockingTarget = new Uint8Array(3 * size * size + 5).fill(1);
  assert.equal(
    jpegTurbo()!.decodeIntoBlocking(bytes, size, blockingTarget, 5),
    decoded,
    'the blocking call decides as the pooled one',
  );
  if (decoded)
    assert.ok(Buffer.from(blockingTarget).equals(Buffer.from(target)), 'the blocking call gives the same pixels');
  return decoded ? target.subarray(5) : null;
}

test(
  'libjpeg-turbo is loaded on this platform (else every image would go through sharp)',
  { skip: process.platform !== 'linux' || process.arch !== 'x64' },
  () => {
    assert.ok(jpegTurbo(), 'the TurboJPEG library of @julusian/jpeg-turbo did not load');
  },
);

test('libjpeg-turbo gives the very pixels sharp gives, encoding after encoding', { skip: !jpegTurbo() }, async () => {
  const variants: Record<string, Promise<Buffer>> = {
    'baseline 4:2:0 q90': jpeg((s) => s.jpeg({ quality: 90 })),
    'baseline 4:4:4 q100': jpeg((s) => s.jpeg({ quality: 100, chromaSubsampling: '4:4:4' })),
    'progressive q75': jpeg((s) => s.jpeg({ quality: 75, progressive: true })),
    'optimised coding, q20': jpeg((s) => s.jpeg({ quality: 20, optimiseCoding: true })),
    'mozjpeg (trellis, progressive)': jpeg((s) => s.jpeg({ mozjpeg: true })),
    grayscale: jpeg((s) => s.grayscale().jpeg({ quality: 85 })),
    'EXIF segment (APP1)': jpeg((s) => s.jpeg().withExif({ IFD0: { Copyright: 'tessera' } })),
    '256² with odd content': jpeg((s) => s.jpeg({ quality: 93 }), 256, 99),
  };
  for (const [name, pending] of Object.entries(variants)) {
    const bytes = await pending;
    const size = name.startsWith('256') ? 256 : SIZE;
    const viaTurbo = await turboDecode(bytes, size);
    assert.ok(viaTurbo, `${name}: declined, but it is the plain case`);
    assert.ok(
      Buffer.from(viaTurbo).equals(await decodeRgbWithSharp(bytes, size)),
      `${name}: pixels differ from sharp's`,
    );
  }
});

test(
  'what sharp must decode is declined: a profile, CMYK, another size, another format, a damaged stream',
  { skip: !jpegTurbo() },
  async () => {
    const declined: Record<string, Promise<Buffer>> = {
      'embedded ICC profile (sharp converts through it)': jpeg((s) => s.withIccProfile('p3').jpeg()),
      CMYK: jpeg((s) => s.toColourspace('cmyk').jpeg()),
      'not at the model size': jpeg((s) => s.jpeg(), SIZE + 8),
      PNG: jpeg((s) => s.png()),
      'truncated stream': jpeg((s) => s.jpeg()).then((b) => b.subarray(0, Math.floor(b.length * 0.6))),
      'not an image': Promise.resolve(Buffer.from('hello, world')),
    };
    for (const [name, pending] of Object.entries(declined)) {
      assert.equal(await turboDecode(await pending), null, `${name}: taken, but sharp must decode it`);
    }
    assert.equal(isPlainJpeg(await declined['embedded ICC profile (sharp converts through it)']!), false);
    assert.equal(isPlainJpeg(await jpeg((s) => s.jpeg())), true);
  },
);

test('decodeRgbInto: the same bytes through either decoder, occlusion hole included', async () => {
  const bytes = await jpeg((s) => s.jpeg({ quality: 88 }), 256, 3);
  const hole = occlusionFor(42, 'image_0001.jpg', 256);
  const viaDecodeInto = new Uint8Array(2 * 3 * 256 * 256);
  await decodeRgbInto(bytes, 256, viaDecodeInto, 3 * 256 * 256, hole);
  const viaSharp = await decodeRgbWithSharp(bytes, 256);
  applyOcclusion(viaSharp, 256, hole);
  assert.ok(Buffer.from(viaDecodeInto.subarray(3 * 256 * 256)).equals(viaSharp));
  assert.ok(
    viaDecodeInto.subarray(0, 3 * 256 * 256).every((v) => v === 0),
    'nothing written before the offset',
  );

  const truncated = bytes.subarray(0, bytes.length >> 1);
  const both = await Promise.allSettled([
    decodeRgbInto(truncated, 256, new Uint8Array(3 * 256 * 256), 0),
    decodeRgbWithSharp(truncated, 256),
  ]);
  assert.deepEqual(
    both.map((r) => r.status),
    ['rejected', 'rejected'],
    'a damaged JPEG is still refused, by sharp, with its message',
  );
});

const flowers256 = path.resolve(PROJECT_ROOT, '..', 'shared', 'data', 'flowers17-256', 'images');

test(
  'real photos: libjpeg-turbo matches sharp on every 256² photo of flowers17-256',
  { skip: !jpegTurbo() || !fs.existsSync(flowers256) ? 'needs ../shared/data/flowers17-256 and the library' : false },
  async () => {
    const names = fs.readdirSync(flowers256).filter((name) => name.endsWith('.jpg'));
    assert.ok(names.length > 1000);
    for (const name of names) {
      const bytes = fs.readFileSync(path.join(flowers256, name));
      const viaTurbo = await turboDecode(bytes, 256);
      assert.ok(viaTurbo, `${name}: declined`);
      assert.ok(
        Buffer.from(viaTurbo).equals(await decodeRgbWithSharp(bytes, 256)),
        `${name}: pixels differ from sharp's`,
      );
    }
  },
);
