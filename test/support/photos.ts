import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { FLOWERS_DIR } from './environment.ts';
import { tempDir } from './temp-dir.ts';

/**
 * JPEG files under flowers17-mini's names (`image_0001.jpg` …, 80 per class), for tests that need
 * real JPEG files but not these particular photos: the photos of ../shared/data/flowers17-mini
 * when present, else files generated here (one colour and pattern per class of 80, a varying size
 * so that they are resized), so that such tests run the same in a checkout with no ../shared.
 */
let generated: string | undefined;
/** Where generated photos go: a folder of this test process, removed with its other folders. */
const generatedFolder = (): string => (generated ??= tempDir('test-photos'));

export const realPhotos = (): boolean => fs.existsSync(path.join(FLOWERS_DIR, 'images'));

async function generate(id: string, file: string): Promise<void> {
  const number = Number(/^image_(\d{4})\.jpg$/.exec(id)?.[1] ?? NaN);
  if (!Number.isInteger(number)) throw new Error(`no generated photo is named ${id}`);
  const klass = Math.floor((number - 1) / 80);
  const [width, height] = [260 + (number % 7) * 20, 240 + (number % 5) * 16];
  const pixels = Buffer.alloc(width * height * 3);
  let state = number * 2654435761;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const noise = (state >>> 24) / 8;
      const stripe = Math.sin((((klass + 2) * x) / width) * Math.PI * 2 + number) * 40;
      const o = (y * width + x) * 3;
      pixels[o] = (klass * 60 + 40 + stripe + noise) & 255;
      pixels[o + 1] = (200 - klass * 40 + (y * 80) / height + noise) & 255;
      pixels[o + 2] = (90 + klass * 30 - stripe + noise) & 255;
    }
  }
  await sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toFile(file);
}

/** Makes sure each of `ids` has a file (call before `photoFile`, e.g. in `before`). */
export async function preparePhotos(ids: readonly string[]): Promise<void> {
  if (realPhotos()) return;
  const folder = generatedFolder();
  for (const id of ids) {
    const file = path.join(folder, id);
    if (!fs.existsSync(file)) await generate(id, file);
  }
}

/** The file of photo `id`: flowers17-mini's, or the one preparePhotos generated. */
export function photoFile(id: string): string {
  return realPhotos() ? path.join(FLOWERS_DIR, 'images', id) : path.join(generatedFolder(), id);
}

/** A dataset folder (train.csv, images/) of `ids`, prepared first: the first half class 1, the rest class 2. */
export function writePhotoDataset(data: string, ids: readonly string[]): void {
  fs.mkdirSync(path.join(data, 'images'), { recursive: true });
  for (const id of ids) fs.copyFileSync(photoFile(id), path.join(data, 'images', id));
  const half = Math.ceil(ids.length / 2);
  fs.writeFileSync(
    path.join(data, 'train.csv'),
    'image_id,hotel_id\n' + ids.map((id, k) => `${id},${k < half ? 1 : 2}\n`).join(''),
  );
}
