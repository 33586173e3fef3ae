/**
 * The model with the pixel graph (pixel-model.ts) spliced in front of it: one onnxruntime session
 * takes the decoded uint8 NHWC pixels and computes the features. Against two sessions (pixels →
 * floats handed back to JavaScript → model) this drops a copy of every float input out of
 * onnxruntime and a session run per slice (null model, this machine: 0.82 → 0.66 ms of CPU per
 * image); on a GPU the conversion runs on the device and a quarter of the bytes cross the bus.
 *
 * The model's own graph is untouched: its input becomes the pixel graph's output, and the new
 * pixel input keeps the model's batch and spatial dimensions as the model declares them (fixed or
 * named), so onnxruntime sees the same shapes and picks the same kernels: the features are those
 * of the two-session path bit for bit (test/unit/fused-model.test.ts). Weights are copied as bytes.
 */
import type { Normalize } from '../image/model-input.ts';
import { dimension, FLOAT, pixelGraph, UINT8, valueInfo } from './pixel-model.ts';
import { bytes, fields, key, textField, varint, WIRE_BYTES, type Field } from './protobuf.ts';

/** How extraction feeds a model now, as its extraction key records it (run-folder/records.ts). */
export const PIXEL_GRAPH = 'fused';

/** Every name the pixel graph adds starts with this; a model already using it is refused. */
export const FUSED_PREFIX = 'tessera.pixels/';
export const FUSED_INPUT = `${FUSED_PREFIX}input`;

// onnx.proto field numbers.
const MODEL_GRAPH = 7;
const MODEL_OPSET_IMPORT = 8;
const OPSET_DOMAIN = 1;
const OPSET_VERSION = 2;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const GRAPH_VALUE_INFO = 13;
const GRAPH_SPARSE_INITIALIZER = 15;
const NODE_INPUT = 1;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const TENSOR_NAME = 8;
const SPARSE_VALUES = 1;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_TYPE_ELEM = 1;
const TENSOR_TYPE_SHAPE = 2;
const SHAPE_DIM = 1;
const DIM_VALUE = 1;

/** A model the pixel graph cannot be put in front of; the message says why. */
export class FusionError extends Error {
  override name = 'FusionError';
}

export interface FusedModel {
  /** The model taking FUSED_INPUT: uint8 [batch, height, width, 3]. */
  bytes: Uint8Array;
  /** The model's own input, now computed by the pixel graph. */
  modelInput: string;
}

/** Where the pixel graph goes in a model's protobuf, found and checked (pixelInputOf). */
interface PixelInput {
  model: Field[];
  graphField: Field;
  graph: Field[];
  input: Field;
  modelInput: string;
  /** The pixel input's Dimension messages. */
  dims: ArrayLike<number>[];
}

const only = (list: Field[], field: number) =>
  list.filter((entry) => entry.field === field && entry.wire === WIRE_BYTES);

/** The model of `modelBytes` taking uint8 NHWC pixels of `imgSize`², converted as `normalize` says. */
export function fusePixelGraph(modelBytes: Uint8Array, normalize: Normalize, imgSize: number): FusedModel {
  const { model, graphField, graph, input, modelInput, dims } = pixelInputOf(modelBytes, imgSize);
  const { nodes, initializers: constants } = pixelGraph(FUSED_INPUT, modelInput, normalize, FUSED_PREFIX);
  const fusedGraph = Buffer.concat([
    // Nodes must come in topological order: the pixel graph's first.
    Uint8Array.from(nodes.flatMap((node) => bytes(GRAPH_NODE, node))),
    ...graph.filter((entry) => entry !== input).map((entry) => graphField.payload.subarray(entry.start, entry.end)),
    Uint8Array.from(constants.flatMap((constant) => bytes(GRAPH_INITIALIZER, constant))),
    Uint8Array.from(bytes(GRAPH_INPUT, valueInfo(FUSED_INPUT, UINT8, dims))),
  ]);
  const graphHeader = Uint8Array.from([...key(MODEL_GRAPH, WIRE_BYTES), ...varint(fusedGraph.length)]);
  const fused = Buffer.concat(
    model.flatMap((entry) =>
      entry === graphField ? [graphHeader, fusedGraph] : [modelBytes.subarray(entry.start, entry.end)],
    ),
  );
  return { bytes: fused, modelInput };
}

/**
 * Checks that the pixel graph can go in front of the model of `modelBytes` at `imgSize`, without
 * building the fused copy (preflight). Throws FusionError (or ProtobufError) naming what is wrong.
 */
export function checkPixelInput(modelBytes: Uint8Array, imgSize: number): void {
  pixelInputOf(modelBytes, imgSize);
}

function pixelInputOf(modelBytes: Uint8Array, imgSize: number): PixelInput {
  const model = fields(modelBytes);
  const graphs = only(model, MODEL_GRAPH);
  if (graphs.length !== 1) throw new FusionError(`expected one graph in the model, found ${graphs.length}`);
  const opset = only(model, MODEL_OPSET_IMPORT).find((entry) =>
    ['', 'ai.onnx'].includes(textField(entry.payload, OPSET_DOMAIN) ?? ''),
  );
  const version = opset && fields(opset.payload).find((entry) => entry.field === OPSET_VERSION)?.value;
  // Opset 7 is where Div and Sub broadcast as the pixel graph's constants need.
  if (version === undefined || version < 7)
    throw new FusionError(`the model's ONNX opset is ${version ?? 'missing'}; 7 or later is needed`);

  const graph = fields(graphs[0]!.payload);
  const names = definedNames(graph);
  const clash = [...names].find((name) => name.startsWith(FUSED_PREFIX));
  if (clash !== undefined)
    throw new FusionError(
      `the model already uses the name ${JSON.stringify(clash)}, reserved for tessera's pixel input`,
    );
  const initializers = new Set([
    ...only(graph, GRAPH_INITIALIZER).map((entry) => textField(entry.payload, TENSOR_NAME)),
    ...only(graph, GRAPH_SPARSE_INITIALIZER).map(sparseName),
  ]);
  // Models of IR version < 4 list their initializers among the inputs too.
  const inputs = only(graph, GRAPH_INPUT).filter(
    (entry) => !initializers.has(textField(entry.payload, VALUE_INFO_NAME)),
  );
  if (inputs.length !== 1)
    throw new FusionError(`the model has ${inputs.length} inputs; tessera feeds exactly one image tensor`);
  const input = inputs[0]!;
  const modelInput = textField(input.payload, VALUE_INFO_NAME) ?? '';
  return {
    model,
    graphField: graphs[0]!,
    graph,
    input,
    modelInput,
    dims: inputDimensions(modelInput, input.payload, imgSize),
  };
}

function sparseName(entry: Field): string | undefined {
  const values = fields(entry.payload).find((inner) => inner.field === SPARSE_VALUES && inner.wire === WIRE_BYTES);
  return values && textField(values.payload, TENSOR_NAME);
}

/** Names the top-level graph defines or refers to: its nodes' inputs, outputs and names, its tensors and values. */
function definedNames(graph: Field[]): Set<string> {
  const names = new Set<string>();
  const add = (name: string | undefined) => name !== undefined && names.add(name);
  const decoder = new TextDecoder();
  for (const entry of graph) {
    if (entry.wire !== WIRE_BYTES) continue;
    if (entry.field === GRAPH_NODE) {
      for (const part of fields(entry.payload))
        if ([NODE_INPUT, NODE_OUTPUT, NODE_NAME].includes(part.field)) add(decoder.decode(part.payload));
    } else if (entry.field === GRAPH_INITIALIZER) add(textField(entry.payload, TENSOR_NAME));
    else if (entry.field === GRAPH_SPARSE_INITIALIZER) add(sparseName(entry));
    else if ([GRAPH_INPUT, GRAPH_OUTPUT, GRAPH_VALUE_INFO].includes(entry.field))
      add(textField(entry.payload, VALUE_INFO_NAME));
  }
  return names;
}

/**
 * The pixel input's dimensions, as encoded Dimension messages: the model's batch, height and
 * width as it declares them, then 3. Checks the model takes float32 [batch, 3, H, W] at imgSize.
 */
function inputDimensions(name: string, valueInfoBytes: Uint8Array, imgSize: number): ArrayLike<number>[] {
  const type = fields(valueInfoBytes).find((entry) => entry.field === VALUE_INFO_TYPE && entry.wire === WIRE_BYTES);
  const tensor = type && fields(type.payload).find((entry) => entry.field === TYPE_TENSOR && entry.wire === WIRE_BYTES);
  if (!tensor) throw new FusionError(`the model's input ${name} is not a tensor`);
  const parts = fields(tensor.payload);
  const elemType = parts.find((entry) => entry.field === TENSOR_TYPE_ELEM)?.value;
  if (elemType !== FLOAT)
    throw new FusionError(`the model's input ${name} has element type ${elemType ?? 'unknown'}, expected float32 (1)`);
  const shape = parts.find((entry) => entry.field === TENSOR_TYPE_SHAPE && entry.wire === WIRE_BYTES);
  // No shape at all: any rank; the pixel input's dimensions are left unknown too.
  if (!shape) return [[], [], [], dimension(3)];
  const dims = only(fields(shape.payload), SHAPE_DIM).map((entry) => entry.payload);
  if (dims.length !== 4)
    throw new FusionError(`the model's input ${name} has ${dims.length} dimensions, expected 4 [batch, 3, H, W]`);
  // Only a positive dim_value fixes a size: 0 and -1 (a 10-byte varint) mean unknown, as for onnxruntime.
  const fixed = (dim: Uint8Array) => {
    const value = fields(dim).find((entry) => entry.field === DIM_VALUE)?.value;
    return value !== undefined && value > 0 && value < 2 ** 53 ? value : undefined;
  };
  const channels = fixed(dims[1]!);
  if (channels !== undefined && channels !== 3)
    throw new FusionError(`the model's input ${name} has ${channels} channels, expected 3`);
  for (const dim of [dims[2]!, dims[3]!]) {
    const size = fixed(dim);
    if (size !== undefined && size !== imgSize)
      throw new FusionError(`the model's input ${name} takes ${size}-pixel sides, but imgSize is ${imgSize}`);
  }
  return [dims[0]!, dims[2]!, dims[3]!, dimension(3)];
}
