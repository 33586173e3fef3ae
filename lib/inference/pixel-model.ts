/**
 * A small ONNX model that turns decoded pixels into a model's input inside onnxruntime: uint8
 * [N, H, W, 3] → Transpose to [N, 3, H, W] (on bytes: a quarter of the memory traffic of
 * transposing floats, measured 0.50 → 0.36 ms per 256² image) → Cast to float32 → Div by 255 →
 * for ImageNet normalisation, Sub the channel's mean and Div by its std, each in float32 as
 * torchvision's Normalize does. Vectorised C++ instead of per-pixel JavaScript loops, with the
 * values of model-input.ts's rgbToChwFloats bit for bit (every float32 operation is correctly
 * rounded; tested for every byte value). Written here as ONNX's protobuf, field by field: no ONNX
 * library exists for Node.
 */
import { IMAGENET_MEAN, IMAGENET_STD, type Normalize } from '../image/model-input.ts';

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_BYTES = 2;

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

const key = (field: number, wire: number) => varint(field * 8 + wire);
const int = (field: number, value: number) => [...key(field, WIRE_VARINT), ...varint(value)];
const bytes = (field: number, payload: readonly number[]) => [...key(field, WIRE_BYTES), ...varint(payload.length), ...payload];
const text = (field: number, value: string) => bytes(field, [...new TextEncoder().encode(value)]);
const float = (field: number, value: number) => [...key(field, WIRE_FIXED32), ...new Uint8Array(Float32Array.of(value).buffer)];
/** A float32 initializer of shape `dims` (TensorProto: dims, data_type, float_data, name). */
const floats = (name: string, dims: number[], values: readonly number[]) => [...dims.flatMap((dim) => int(1, dim)), ...int(2, FLOAT), ...values.flatMap((value) => float(4, value)), ...text(8, name)];

// onnx.proto field numbers and enums used below.
const FLOAT = 1;
const UINT8 = 2;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

function node(op: string, inputs: string[], outputs: string[], attributes: number[][] = []): number[] {
  return [...inputs.flatMap((name) => text(1, name)), ...outputs.flatMap((name) => text(2, name)), ...text(3, outputs[0] ?? op), ...text(4, op), ...attributes.flatMap((attribute) => bytes(5, attribute))];
}

function tensorType(elemType: number, dims: (number | string)[]): number[] {
  const shape = dims.flatMap((dim) => bytes(1, typeof dim === 'number' ? int(1, dim) : text(2, dim)));
  return bytes(1, [...int(1, elemType), ...bytes(2, shape)]); // TypeProto.tensor_type
}

const valueInfo = (name: string, elemType: number, dims: (number | string)[]) => [...text(1, name), ...bytes(2, tensorType(elemType, dims))];

export const PIXELS_INPUT = 'pixels';
export const PIXELS_OUTPUT = 'input';

/** The model's bytes for images of `size` × `size` (any batch size). */
export function pixelModel(size: number, normalize: Normalize = 'none'): Uint8Array {
  const perm = [...text(1, 'perm'), ...int(20, ATTRIBUTE_INTS), ...[0, 3, 1, 2].flatMap((axis) => int(8, axis))];
  const nodes = [
    node('Transpose', [PIXELS_INPUT], ['planes'], [perm]),
    node('Cast', ['planes'], ['floats'], [[...text(1, 'to'), ...int(20, ATTRIBUTE_INT), ...int(3, FLOAT)]]),
    ...(normalize === 'imagenet'
      ? [node('Div', ['floats', 'scale'], ['scaled']), node('Sub', ['scaled', 'mean'], ['centred']), node('Div', ['centred', 'std'], [PIXELS_OUTPUT])]
      : [node('Div', ['floats', 'scale'], [PIXELS_OUTPUT])]),
  ];
  const initializers = [
    floats('scale', [], [255]),
    ...(normalize === 'imagenet' ? [floats('mean', [1, 3, 1, 1], IMAGENET_MEAN), floats('std', [1, 3, 1, 1], IMAGENET_STD)] : []),
  ];
  const graph = [
    ...nodes.flatMap((entry) => bytes(1, entry)),
    ...text(2, 'tessera-pixels'),
    ...initializers.flatMap((initializer) => bytes(5, initializer)),
    ...bytes(11, valueInfo(PIXELS_INPUT, UINT8, ['batch', size, size, 3])),
    ...bytes(12, valueInfo(PIXELS_OUTPUT, FLOAT, ['batch', 3, size, size])),
  ];
  const opset = [...text(1, ''), ...int(2, 17)];
  return Uint8Array.from([...int(1, 8), ...text(2, 'tessera'), ...bytes(7, graph), ...bytes(8, opset)]);
}
