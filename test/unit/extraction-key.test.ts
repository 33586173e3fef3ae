import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RunConfigSchema } from '../../lib/core/run-config.ts';
import { extractionKey, lineageMismatch } from '../../lib/extract/lineage.ts';
import { jpegTurbo } from '../../lib/image/jpeg-turbo.ts';
import type { ImageFiles } from '../../lib/extract/image-files.ts';
import { ExtractionKeySchema } from '../../lib/run-folder/records.ts';

const config = (normalize: 'none' | 'imagenet') => RunConfigSchema.parse({ data: '/d', out: '/o', normalize });
const noImages = {} as ImageFiles; // never read: a key mismatch is decided first

test('the extraction key records the pixel arithmetic: ImageNet normalisation in float32 is version 2', () => {
  assert.equal(extractionKey(config('none'), 'train', 'abc').preprocessing, 1);
  assert.equal(extractionKey(config('imagenet'), 'train', 'abc').preprocessing, 2);
});

test('a key written before the arithmetic was recorded reads as version 1: its ImageNet shards are extracted again, plain ones reused', async () => {
  for (const normalize of ['none', 'imagenet'] as const) {
    const { preprocessing, ...older } = extractionKey(config(normalize), 'train', 'abc');
    assert.equal(ExtractionKeySchema.parse(older).preprocessing, 1);
    const images = [{ ordinal: 0, imageId: 'a.jpg', target: 1 }];
    const recorded = { key: ExtractionKeySchema.parse(older), images: [] };
    const verdict = await lineageMismatch(recorded, extractionKey(config(normalize), 'train', 'abc'), images, noImages);
    if (preprocessing === 1) assert.equal(verdict, 'it holds 0 images, the plan 1', 'same key: decided on the images');
    else assert.equal(verdict, 'extraction key changed (preprocessing)');
  }
});

test('the extraction key names the JPEG decoder; shards of a key written before it (libvips decoded every image) are extracted again', async () => {
  const key = extractionKey(config('none'), 'train', 'abc');
  assert.equal(key.jpegDecoder, jpegTurbo()?.version ?? 'libvips');
  if (jpegTurbo())
    assert.match(key.jpegDecoder, /^libjpeg-turbo \d+\.\d+\.\d+ \(@julusian\/jpeg-turbo \d+\.\d+\.\d+\)$/);
  const { jpegDecoder, ...older } = key;
  assert.equal(ExtractionKeySchema.parse(older).jpegDecoder, 'libvips');
  const verdict = await lineageMismatch(
    { key: ExtractionKeySchema.parse(older), images: [] },
    key,
    [{ ordinal: 0, imageId: 'a.jpg', target: 1 }],
    noImages,
  );
  assert.equal(
    verdict,
    jpegDecoder === 'libvips' ? 'it holds 0 images, the plan 1' : 'extraction key changed (jpegDecoder)',
  );
});

test('the extraction key says the pixel graph runs fused into the model; shards of a key written before (a separate pixel session) are extracted again', async () => {
  const key = extractionKey(config('imagenet'), 'train', 'abc');
  assert.equal(key.pixelGraph, 'fused');
  const { pixelGraph, ...older } = key;
  assert.equal(ExtractionKeySchema.parse(older).pixelGraph, 'separate');
  const verdict = await lineageMismatch(
    { key: ExtractionKeySchema.parse(older), images: [] },
    key,
    [{ ordinal: 0, imageId: 'a.jpg', target: 1 }],
    noImages,
  );
  assert.equal(verdict, `extraction key changed (pixelGraph)`, pixelGraph);
});
