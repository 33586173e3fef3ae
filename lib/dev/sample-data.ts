import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { formatCsvRow } from '../pandas/csv.ts';

export interface SampleDataOptions {
  dir: string;
  images?: number;
  classes?: number;
  seed?: number;
  /** Every image size × size (default: a cycle of sizes, most 256×256). */
  size?: number;
  /** `mixed` alternates JPEG and PNG files. */
  format?: 'jpeg' | 'mixed';
}

/** mulberry32: a tiny seeded PRNG so the same options always give the same files. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sizes cycle so the set has square, non-square, smaller and larger images than 256×256. */
const SIZES: [number, number][] = [
  [256, 256],
  [256, 256],
  [320, 240],
  [256, 256],
  [512, 512],
  [200, 300],
  [256, 256],
];

/**
 * Photo-like synthetic images: per class a palette and a texture frequency, per image a gradient
 * sky, blobs and noise. Real JPEG files, several classes, some not 256×256, plus train.csv with
 * `image_id,hotel_id` (class ids 1000 + k, like hotel ids).
 */
export async function generateSampleData(
  options: SampleDataOptions,
): Promise<{ csv: string; images: number; classes: number }> {
  const count = options.images ?? 300;
  const classes = options.classes ?? 10;
  const random = prng(options.seed ?? 7);
  const imageDir = path.join(options.dir, 'images');
  await fs.mkdir(imageDir, { recursive: true });
  let csv = formatCsvRow(['image_id', 'hotel_id']);
  for (let k = 0; k < count; k++) {
    const klass = k % classes;
    const [width, height] = options.size ? [options.size, options.size] : SIZES[k % SIZES.length]!;
    const hue = (klass * 360) / classes;
    const base = hslToRgb(hue, 0.6, 0.5);
    const accent = hslToRgb((hue + 150) % 360, 0.7, 0.6);
    const frequency = 2 + (klass % 5) * 3;
    const pixels = Buffer.alloc(width * height * 3);
    const blobs = Array.from({ length: 3 + (klass % 4) }, () => ({
      cx: random() * width,
      cy: random() * height,
      r: (0.08 + random() * 0.2) * Math.min(width, height),
    }));
    const phase = random() * Math.PI * 2;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const shade = 0.55 + 0.45 * (y / height);
        const wave = 0.5 + 0.5 * Math.sin(((frequency * x) / width) * Math.PI * 2 + phase + (y / height) * 3);
        const inBlob = blobs.some((b) => (x - b.cx) ** 2 + (y - b.cy) ** 2 < b.r * b.r);
        const colour = inBlob ? accent : base;
        const noise = (random() - 0.5) * 30;
        const o = (y * width + x) * 3;
        for (let c = 0; c < 3; c++) {
          pixels[o + c] = Math.max(0, Math.min(255, colour[c]! * shade * (0.7 + 0.3 * wave) + noise));
        }
      }
    }
    const png = options.format === 'mixed' && k % 2 === 1;
    const imageId = `img_${String(k).padStart(5, '0')}.${png ? 'png' : 'jpg'}`;
    const image = sharp(pixels, { raw: { width, height, channels: 3 } });
    await (png ? image.png() : image.jpeg({ quality: 90 })).toFile(path.join(imageDir, imageId));
    csv += formatCsvRow([imageId, String(1000 + klass)]);
  }
  const csvPath = path.join(options.dir, 'train.csv');
  await fs.writeFile(csvPath, csv);
  return { csv: csvPath, images: count, classes };
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return 255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)));
  };
  return [f(0), f(8), f(4)];
}
