/** Messages between an InferenceEngine and its session thread. */
import type { Normalize } from '../image/model-input.ts';

export interface SessionSpec {
  modelPath: string;
  /**
   * sha256 of the model file when the session was asked for: a replaced file gets a new session,
   * and a session whose file no longer has these bytes when it loads is refused.
   */
  modelSha256?: string;
  executionProvider: 'cpu' | 'cuda';
  /** Output index or name, as in the run config. */
  output: number | string;
  /** The images' side and their conversion to floats: the pixel graph in front of the model (fused-model.ts). */
  imgSize: number;
  normalize: Normalize;
  intraOpThreads?: number;
  /**
   * Images per session.run: a batch is run in slices of this many images. On the CPU small
   * slices are faster and far smaller (timm efficientnet_b0 at 256², this machine: 97 images/s and
   * 1.2 GB RSS at 32, 117 images/s and 0.36 GB at 8); per-image results do not depend on it.
   */
  microBatch?: number;
}

export interface ModelDescription {
  /** The model's own input, computed inside the session from the pixels. */
  inputName: string;
  outputName: string;
  outputNames: string[];
}

/**
 * A batch as decoded: `images` RGB images of imgSize × imgSize, uint8 HWC back to back (a quarter
 * of the float tensor's bytes). The session turns it into the model's float32 NCHW input.
 */
export interface PixelBatch {
  pixels: Uint8Array;
  images: number;
}

/**
 * What to transfer along with a batch's pixels: their buffer, unless it is shared (the decode
 * threads write into shared buffers; a message carries those without a copy and cannot transfer them).
 */
export function pixelTransfer(pixels: Uint8Array): ArrayBuffer[] {
  return pixels.buffer instanceof SharedArrayBuffer ? [] : [pixels.buffer as ArrayBuffer];
}

/** `place`: the shard's place in line (InferenceEngine.run); waiting batches of an earlier place run first. */
export type ThreadRequest = { kind: 'run'; id: number; place: number; batch: PixelBatch };

export type ThreadReply =
  | { kind: 'ready'; model: ModelDescription }
  | { kind: 'load-failed'; message: string }
  | { kind: 'result'; id: number; output: Float32Array; dims: number[]; pixels: Uint8Array }
  | { kind: 'run-failed'; id: number; message: string; pixels: Uint8Array };
