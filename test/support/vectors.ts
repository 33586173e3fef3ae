import { DuckDBInstance } from '@duckdb/node-api';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';

/** Runs SQL over files with a fresh in-memory DuckDB, independent of tessera's own code. */
export async function duckdbRows(sql: string): Promise<unknown[][]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRows();
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * The reference for one image, written independently of lib/: sharp to RGB at size × size,
 * x / 255 in CHW, one onnxruntime session on this thread, the chosen output as [C][H][W].
 */
export async function referenceFeatures(modelPath: string, imagePath: string, size: number, output: string) {
  const { data, info } = await sharp(imagePath)
    .resize(size, size, { fit: 'fill' })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected RGB, got ${info.channels} channels`);
  const input = new Float32Array(3 * size * size);
  for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) input[c * size * size + p] = data[p * 3 + c]! / 255;
  const session = await ort.InferenceSession.create(modelPath);
  try {
    const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, [1, 3, size, size]) }, [output]);
    const tensor = result[output]!;
    const [, channels, height, width] = tensor.dims as number[];
    return { data: tensor.data as Float32Array, channels: channels!, height: height!, width: width! };
  } finally {
    await session.release();
  }
}
