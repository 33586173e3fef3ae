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

test('the extraction key names the JPEG decoder and says the pixel graph runs fused into the model', () => {
  const key = extractionKey(config('imagenet'), 'train', 'abc');
  assert.equal(key.jpegDecoder, jpegTurbo()?.version ?? 'libvips');
  if (jpegTurbo())
    assert.match(key.jpegDecoder, /^libjpeg-turbo \d+\.\d+\.\d+ \(@julusian\/jpeg-turbo \d+\.\d+\.\d+\)$/);
  assert.equal(key.pixelGraph, 'fused');
});

test('a shard whose key differs in the pixel arithmetic, the JPEG decoder or the pixel graph is extracted again; a key missing one is no key', async () => {
  const key = extractionKey(config('imagenet'), 'train', 'abc');
  const images = [{ ordinal: 0, imageId: 'a.jpg', target: 1 }];
  const same = await lineageMismatch({ key, images: [] }, key, images, noImages);
  assert.equal(same, 'it holds 0 images, the plan 1', 'same key: decided on the images');
  const others = { preprocessing: 1, jpegDecoder: 'libvips', pixelGraph: 'separate' } as const;
  for (const [field, value] of Object.entries(others)) {
    const recorded = { key: { ...key, [field]: value }, images: [] };
    assert.equal(await lineageMismatch(recorded, key, images, noImages), `extraction key changed (${field})`);
    const without: Record<string, unknown> = { ...key };
    delete without[field];
    assert.equal(ExtractionKeySchema.safeParse(without).success, false, `a key without ${field}`);
  }
});
