/**
 * Just enough of protobuf's wire format to write a small ONNX graph and to splice one in front of
 * a model (pixel-model.ts, fused-model.ts). No ONNX or protobuf library for Node reads ONNX files;
 * this reads fields without decoding what it does not need, so a model's weights are copied, never parsed.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export function varint(value: number): number[] {
  // A negative int64 is written as its 64-bit two's complement: ten bytes.
  if (value < 0) return varint64(BigInt.asUintN(64, BigInt(value)));
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

function varint64(value: bigint): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7fn) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return bytes;
}

export const key = (field: number, wire: number) => varint(field * 8 + wire);
export const int = (field: number, value: number) => [...key(field, WIRE_VARINT), ...varint(value)];
export const bytes = (field: number, payload: ArrayLike<number>) => [
  ...key(field, WIRE_BYTES),
  ...varint(payload.length),
  ...Array.from(payload),
];
export const text = (field: number, value: string) => bytes(field, new TextEncoder().encode(value));
export const float = (field: number, value: number) => [
  ...key(field, WIRE_FIXED32),
  ...new Uint8Array(Float32Array.of(value).buffer),
];

/** One field of a message: its number, wire type, where it starts, and its value's bytes. */
export interface Field {
  field: number;
  wire: number;
  /** Offset of the field's key in the message. */
  start: number;
  /** Offset just past the field. */
  end: number;
  /** A varint's value, or a length-delimited field's payload (a view, not a copy). */
  value: number;
  payload: Uint8Array;
}

export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

function readVarint(buffer: Uint8Array, offset: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let at = offset; at < buffer.length && at < offset + 10; at++) {
    const byte = buffer[at]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, at + 1];
    scale *= 128;
  }
  throw new ProtobufError(`truncated varint at byte ${offset}`);
}

/** The fields of one message, in order. Throws ProtobufError on anything that is not well-formed. */
export function fields(message: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < message.length) {
    const start = at;
    const [tag, afterKey] = readVarint(message, at);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    let value = 0;
    let payload = message.subarray(afterKey, afterKey);
    if (wire === WIRE_VARINT) [value, at] = readVarint(message, afterKey);
    else if (wire === WIRE_FIXED64) at = afterKey + 8;
    else if (wire === WIRE_FIXED32) at = afterKey + 4;
    else if (wire === WIRE_BYTES) {
      const [length, afterLength] = readVarint(message, afterKey);
      at = afterLength + length;
      payload = message.subarray(afterLength, at);
    } else throw new ProtobufError(`unsupported wire type ${wire} at byte ${start}`);
    if (field === 0 || at > message.length) throw new ProtobufError(`malformed field at byte ${start}`);
    out.push({ field, wire, start, end: at, value, payload });
  }
  return out;
}

/** The UTF-8 text of the first occurrence of `field`, or undefined. */
export function textField(message: Uint8Array, field: number): string | undefined {
  const found = fields(message).find((entry) => entry.field === field && entry.wire === WIRE_BYTES);
  return found && new TextDecoder().decode(found.payload);
}
