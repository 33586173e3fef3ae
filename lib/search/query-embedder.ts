import { isUri } from '../core/uri.ts';
import { Stores } from '../storage/open-store.ts';
import sharp from 'sharp';
import { InputError } from '../core/errors.ts';
import { RunConfigSchema } from '../core/run-config.ts';
import { decodeRgbInto } from '../image/decode.ts';
import { InferenceEngine } from '../inference/engine.ts';
import type { SessionSpec } from '../inference/protocol.ts';
import type { ManifestSchema } from '../run-folder/records.ts';
import { featuresToTileVectors } from '../extract/tiles.ts';
import type { z } from 'zod';

/** A query image that is not an image tessera can decode, or is over the limits: the caller's input. */
export class QueryImageError extends InputError {
  override name = 'QueryImageError';
}

export interface QueryTiles {
  /** The image's tile vectors, row-major over the grid (tile t = x × width + y), as extraction writes them. */
  vectors: Float32Array;
  grid: [number, number];
  dimensions: number;
}

type Manifest = z.output<typeof ManifestSchema>;

/**
 * The session an output's vectors were made with, from its manifest: the same model bytes (the
 * session refuses a file whose sha256 is not the manifest's), output, input size and
 * normalisation, on the CPU. Decoding and the pixel graph are extraction's own (image/decode.ts,
 * inference/fused-model.ts), so a query image's tiles are computed as a training image's were.
 */
export function querySessionSpec(manifest: Manifest, intraOpThreads?: number): SessionSpec {
  const config = RunConfigSchema.parse(manifest.config);
  return {
    modelPath: manifest.model.path,
    modelSha256: manifest.model.sha256,
    executionProvider: 'cpu',
    output: config.output,
    imgSize: config.imgSize,
    normalize: config.normalize,
    intraOpThreads,
    microBatch: 1,
  };
}

/** Query images through an output's model, one at a time, on a session loaded once. */
export class QueryEmbedder {
  private constructor(
    private readonly engine: InferenceEngine,
    readonly imgSize: number,
    private readonly stores: Stores,
  ) {}

  static async open(manifest: Manifest, { intraOpThreads }: { intraOpThreads?: number } = {}): Promise<QueryEmbedder> {
    const spec = querySessionSpec(manifest, intraOpThreads);
    // A model in object storage is loaded from a local copy (the session checks its sha256 against the manifest's).
    const stores = new Stores();
    try {
      const modelPath = isUri(spec.modelPath)
        ? (await stores.localFile(spec.modelPath, 'model file')).file
        : spec.modelPath;
      return new QueryEmbedder(await InferenceEngine.open({ ...spec, modelPath }), spec.imgSize, stores);
    } catch (error) {
      stores.close();
      throw error;
    }
  }

  /**
   * One image's tile vectors. `maxPixels` refuses a larger image from its header, before it is
   * decoded (an upload's decompression bomb); `name` is how errors call it.
   */
  async embed(bytes: Uint8Array, name: string, { maxPixels }: { maxPixels?: number } = {}): Promise<QueryTiles> {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buffer.byteLength === 0) throw new QueryImageError(`${name} is empty`);
    if (maxPixels !== undefined) {
      const { width = 0, height = 0 } = await sharp(buffer)
        .metadata()
        .catch((error: Error) => {
          throw new QueryImageError(`${name} is not an image tessera can decode (${error.message})`);
        });
      if (width * height > maxPixels)
        throw new QueryImageError(`${name} is ${width}×${height} pixels, over the limit of ${maxPixels}`);
    }
    const pixels = new Uint8Array(3 * this.imgSize * this.imgSize);
    try {
      await decodeRgbInto(buffer, this.imgSize, pixels, 0);
    } catch (error) {
      throw new QueryImageError(`${name} is not an image tessera can decode (${(error as Error).message})`);
    }
    const result = await this.engine.run({ pixels, images: 1 });
    if (result.dims.length !== 4)
      throw new InputError(`the model's output has shape [${result.dims.join(', ')}], expected 4-D`);
    const [, channels, height, width] = result.dims as [number, number, number, number];
    const vectors = featuresToTileVectors({ data: result.data, batch: 1, channels, height, width }, 1);
    return { vectors, grid: [height, width], dimensions: channels };
  }

  close(): Promise<void> {
    return this.engine.close().finally(() => this.stores.close());
  }
}
