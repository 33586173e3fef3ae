/**
 * Decoded pixels → the model's input tensor. Apart from decode.ts (sharp) so that the inference
 * thread, which does this conversion beside the model, does not load libvips.
 */

const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export type Normalize = 'none' | 'imagenet';

/**
 * The model's input from `images` decoded images (uint8 HWC, back to back): float32 CHW, x / 255,
 * then the optional ImageNet normalisation. Runs on the inference thread. (A lookup table of the
 * 256 values measured slower here than the division: the loop is bound by memory, not arithmetic.)
 */
export function rgbToChwFloats(rgb: Uint8Array, images: number, size: number, normalize: Normalize, target: Float32Array): void {
  const plane = size * size;
  for (let image = 0; image < images; image++) {
    const pixels = image * plane * 3;
    for (let c = 0; c < 3; c++) {
      const base = (image * 3 + c) * plane;
      // Divide (not multiply by 1/255) so values match numpy's `x.astype(float32) / 255` bit for bit.
      for (let p = 0; p < plane; p++) target[base + p] = rgb[pixels + p * 3 + c]! / 255;
      if (normalize === 'imagenet') {
        const mean = IMAGENET_MEAN[c]!;
        const std = IMAGENET_STD[c]!;
        for (let p = base; p < base + plane; p++) target[p] = (target[p]! - mean) / std;
      }
    }
  }
}
