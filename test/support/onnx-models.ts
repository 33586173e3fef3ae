/**
 * Tiny ONNX models written in the test itself (no Python in the test suite): float input
 * [batch, 3, H, W] → AveragePool → 1×1 Conv to 4 channels, with fixed weights.
 */
import fs from 'node:fs';
import path from 'node:path';
import { dimension, FLOAT, valueInfo } from '../../lib/inference/pixel-model.ts';
import { bytes, float, int, text } from '../../lib/inference/protobuf.ts';

const ATTRIBUTE_INTS = 7;
const ints = (name: string, values: number[]) => [
  ...text(1, name),
  ...int(20, ATTRIBUTE_INTS),
  ...values.flatMap((value) => int(8, value)),
];
const node = (op: string, inputs: string[], outputs: string[], attributes: number[][] = []) => [
  ...inputs.flatMap((name) => text(1, name)),
  ...outputs.flatMap((name) => text(2, name)),
  ...text(3, `${op}_${outputs[0]}`),
  ...text(4, op),
  ...attributes.flatMap((a) => bytes(5, a)),
];

export interface TinyModelOptions {
  /** The input's dimensions as declared (numbers fixed, strings named); default [batch, 3, height, width]. */
  dims?: (number | string)[];
  inputName?: string;
  /** The input's element type (ONNX enum); default float. */
  elemType?: number;
  /** A second graph input (a model tessera cannot feed). */
  secondInput?: boolean;
  /** Lists the weights among the graph's inputs too, as models of IR version < 4 do. */
  initializersAsInputs?: boolean;
  /** Writes the conv weight to `externalWeights` beside the model file (ONNX external data). */
  externalWeights?: string;
  /** A name used inside the graph for the pooled tensor. */
  pooledName?: string;
  pool?: number;
}

export const TINY_WEIGHTS = Array.from({ length: 12 }, (_, k) => (k - 5.5) / 7);

/** Writes the model to `file` (and its external weights beside it); returns the file. */
export function writeTinyModel(file: string, options: TinyModelOptions = {}): string {
  const input = options.inputName ?? 'images';
  const pooled = options.pooledName ?? 'pooled';
  const pool = options.pool ?? 4;
  const weight = options.externalWeights
    ? [
        ...int(1, 4),
        ...int(1, 3),
        ...int(1, 1),
        ...int(1, 1),
        ...int(2, FLOAT),
        ...text(8, 'weight'),
        ...bytes(13, [...text(1, 'location'), ...text(2, options.externalWeights)]),
        ...bytes(13, [...text(1, 'offset'), ...text(2, '0')]),
        ...bytes(13, [...text(1, 'length'), ...text(2, '48')]),
        ...int(14, 1),
      ]
    : [
        ...int(1, 4),
        ...int(1, 3),
        ...int(1, 1),
        ...int(1, 1),
        ...int(2, FLOAT),
        ...TINY_WEIGHTS.flatMap((w) => float(4, w)),
        ...text(8, 'weight'),
      ];
  if (options.externalWeights)
    fs.writeFileSync(
      path.join(path.dirname(file), options.externalWeights),
      new Uint8Array(Float32Array.from(TINY_WEIGHTS).buffer),
    );
  const bias = [...int(1, 4), ...int(2, FLOAT), ...[0.5, -0.25, 0, 1].flatMap((b) => float(4, b)), ...text(8, 'bias')];
  const dims = (options.dims ?? ['batch', 3, 'height', 'width']).map(dimension);
  const graph = [
    ...bytes(
      1,
      node('AveragePool', [input], [pooled], [ints('kernel_shape', [pool, pool]), ints('strides', [pool, pool])]),
    ),
    ...bytes(1, node('Conv', [pooled, 'weight', 'bias'], ['features'])),
    ...text(2, 'tiny'),
    ...bytes(5, weight),
    ...bytes(5, bias),
    ...bytes(11, valueInfo(input, options.elemType ?? FLOAT, dims)),
    ...(options.secondInput ? bytes(11, valueInfo('mask', FLOAT, dims)) : []),
    ...(options.initializersAsInputs
      ? [
          ...bytes(11, valueInfo('weight', FLOAT, [4, 3, 1, 1].map(dimension))),
          ...bytes(11, valueInfo('bias', FLOAT, [dimension(4)])),
        ]
      : []),
    ...bytes(12, valueInfo('features', FLOAT, ['batch', 4, 'h', 'w'].map(dimension))),
  ];
  const model = [
    ...int(1, options.initializersAsInputs ? 3 : 8),
    ...text(2, 'tessera-test'),
    ...bytes(7, graph),
    ...bytes(8, [...text(1, ''), ...int(2, 17)]),
  ];
  fs.writeFileSync(file, Uint8Array.from(model));
  return file;
}

/**
 * `source`'s model with other bytes: the same graph and weights, plus a field ModelProto does not
 * define (onnxruntime skips it). A model file replaced by another, for the checks by sha256,
 * without a second exported model.
 */
export function writeModelWithOtherBytes(source: string, file: string): string {
  fs.writeFileSync(file, Buffer.concat([fs.readFileSync(source), Uint8Array.from(int(1000, 1))]));
  return file;
}
