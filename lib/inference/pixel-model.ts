/**
 * A small ONNX graph that turns decoded pixels into a model's input inside onnxruntime: uint8
 * [N, H, W, 3] → Transpose to [N, 3, H, W] (on bytes: a quarter of the memory traffic of
 * transposing floats, measured 0.50 → 0.36 ms per 256² image) → Cast to float32 → Div by 255 →
 * for ImageNet normalisation, Sub the channel's mean and Div by its std, each in float32 as
 * torchvision's Normalize does. Vectorised C++ instead of per-pixel JavaScript loops, with the
 * values of model-input.ts's rgbToChwFloats bit for bit (every float32 operation is correctly
 * rounded; tested for every byte value). fused-model.ts puts it in front of the model's own graph.
 * Written here as ONNX's protobuf, field by field: no ONNX library exists for Node.
 */
import { IMAGENET_MEAN, IMAGENET_STD, type Normalize } from '../image/model-input.ts';
import { bytes, float, int, text } from './protobuf.ts';

// onnx.proto field numbers and enums used below.
export const FLOAT = 1;
export const UINT8 = 2;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

/** A float32 initializer of shape `dims` (TensorProto: dims, data_type, float_data, name). */
const floats = (name: string, dims: number[], values: readonly number[]) => [
  ...dims.flatMap((dim) => int(1, dim)),
  ...int(2, FLOAT),
  ...values.flatMap((value) => float(4, value)),
  ...text(8, name),
];

function node(name: string, op: string, inputs: string[], outputs: string[], attributes: number[][] = []): number[] {
  return [
    ...inputs.flatMap((input) => text(1, input)),
    ...outputs.flatMap((output) => text(2, output)),
    ...text(3, name),
    ...text(4, op),
    ...attributes.flatMap((attribute) => bytes(5, attribute)),
  ];
}

/** A TensorShapeProto.Dimension: a fixed size or a named symbolic one. */
export const dimension = (dim: number | string) => (typeof dim === 'number' ? int(1, dim) : text(2, dim));

/** A tensor's TypeProto from its element type and its dimensions' encoded Dimension messages. */
export function tensorType(elemType: number, dims: readonly ArrayLike<number>[]): number[] {
  const shape = dims.flatMap((dim) => bytes(1, dim));
  return bytes(1, [...int(1, elemType), ...bytes(2, shape)]); // TypeProto.tensor_type
}

export const valueInfo = (name: string, elemType: number, dims: readonly ArrayLike<number>[]) => [
  ...text(1, name),
  ...bytes(2, tensorType(elemType, dims)),
];

/**
 * The pixel graph's nodes and initializers (NodeProto and TensorProto messages) from uint8 NHWC
 * `input` to the float32 NCHW `output`; every other name it defines, its nodes' names included,
 * starts with `prefix`.
 */
export function pixelGraph(
  input: string,
  output: string,
  normalize: Normalize,
  prefix = '',
): { nodes: number[][]; initializers: number[][] } {
  const name = (local: string) => prefix + local;
  const perm = [...text(1, 'perm'), ...int(20, ATTRIBUTE_INTS), ...[0, 3, 1, 2].flatMap((axis) => int(8, axis))];
  const nodes = [
    node(name('transpose'), 'Transpose', [input], [name('planes')], [perm]),
    node(
      name('cast'),
      'Cast',
      [name('planes')],
      [name('floats')],
      [[...text(1, 'to'), ...int(20, ATTRIBUTE_INT), ...int(3, FLOAT)]],
    ),
    ...(normalize === 'imagenet'
      ? [
          node(name('scale'), 'Div', [name('floats'), name('scale')], [name('scaled')]),
          node(name('centre'), 'Sub', [name('scaled'), name('mean')], [name('centred')]),
          node(name('standardise'), 'Div', [name('centred'), name('std')], [output]),
        ]
      : [node(name('scale'), 'Div', [name('floats'), name('scale')], [output])]),
  ];
  const initializers = [
    floats(name('scale'), [], [255]),
    ...(normalize === 'imagenet'
      ? [floats(name('mean'), [1, 3, 1, 1], IMAGENET_MEAN), floats(name('std'), [1, 3, 1, 1], IMAGENET_STD)]
      : []),
  ];
  return { nodes, initializers };
}

export const PIXELS_INPUT = 'pixels';
export const PIXELS_OUTPUT = 'input';

/** The pixel graph alone as a model, for images of `size` × `size` (any batch size). */
export function pixelModel(size: number, normalize: Normalize = 'none'): Uint8Array {
  const { nodes, initializers } = pixelGraph(PIXELS_INPUT, PIXELS_OUTPUT, normalize);
  const graph = [
    ...nodes.flatMap((entry) => bytes(1, entry)),
    ...text(2, 'tessera-pixels'),
    ...initializers.flatMap((initializer) => bytes(5, initializer)),
    ...bytes(11, valueInfo(PIXELS_INPUT, UINT8, ['batch', size, size, 3].map(dimension))),
    ...bytes(12, valueInfo(PIXELS_OUTPUT, FLOAT, ['batch', 3, size, size].map(dimension))),
  ];
  const opset = [...text(1, ''), ...int(2, 17)];
  return Uint8Array.from([...int(1, 8), ...text(2, 'tessera'), ...bytes(7, graph), ...bytes(8, opset)]);
}
