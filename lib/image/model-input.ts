/**
 * Decoded pixels → the model's input tensor. Apart from decode.ts (sharp) so that the inference
 * thread, which does this conversion beside the model, does not load libvips.
 */

/** torchvision's ImageNet statistics, used as float32 (as torchvision's Normalize holds them). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export type Normalize = 'none' | 'imagenet';

/**
 * Which arithmetic turns pixels into the model's input, per normalisation, as extraction keys
 * record it: 1 is x / 255 in float32 (unchanged since the first version) with ImageNet's
 * normalisation in doubles; 2 does that normalisation in float32, as torchvision does. Shards
 * made under another number are extracted again rather than mixed with these.
 */
export const PREPROCESSING: Record<Normalize, number> = { none: 1, imagenet: 2 };

/**
 * The model's input from `images` decoded images (uint8 HWC, back to back): float32 CHW, x / 255,
 * then the optional ImageNet normalisation, every step rounded to float32 as torchvision computes
 * it (a float32 operation done in doubles and rounded once is correctly rounded), so that the
 * pixel graph in front of the model (inference/pixel-model.ts) gives the same bits. Extraction
 * uses that graph; this is the reference for it, and for the benchmarks' and tests' decoding.
 */
export function rgbToChwFloats(
  rgb: Uint8Array,
  images: number,
  size: number,
  normalize: Normalize,
  target: Float32Array,
): void {
  const plane = size * size;
  for (let image = 0; image < images; image++) {
    const pixels = image * plane * 3;
    for (let c = 0; c < 3; c++) {
      const base = (image * 3 + c) * plane;
      // Divide (not multiply by 1/255) so values match numpy's `x.astype(float32) / 255` bit for bit.
      for (let p = 0; p < plane; p++) target[base + p] = rgb[pixels + p * 3 + c]! / 255;
      if (normalize === 'imagenet') {
        const mean = Math.fround(IMAGENET_MEAN[c]!);
        const std = Math.fround(IMAGENET_STD[c]!);
        // target[] is float32: each assignment rounds, so each step is a float32 operation.
        for (let p = base; p < base + plane; p++) {
          target[p] = target[p]! - mean;
          target[p] = target[p]! / std;
        }
      }
    }
  }
}
