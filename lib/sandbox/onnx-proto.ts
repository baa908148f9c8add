/**
 * Just enough of the ONNX protobuf wire format to write small models: the sandbox builds
 * Stable Diffusion-shaped model folders from these, so local-sd can be exercised with no
 * downloaded weights. Field numbers are those of onnx/onnx.proto (IR version 8).
 */

/** ONNX TensorProto.DataType values used here. */
export const OnnxType = { float: 1, int32: 6, int64: 7, float16: 10 } as const;
export type OnnxTypeName = keyof typeof OnnxType;

function varint(value: number | bigint): Buffer {
  let remaining = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  do {
    let byte = Number(remaining & 0x7fn);
    remaining >>= 7n;
    if (remaining > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (remaining > 0n);
  return Buffer.from(bytes);
}

/** A protobuf message under construction; fields are appended in call order. */
class Message {
  private readonly parts: Buffer[] = [];

  int(field: number, value: number | bigint): this {
    this.parts.push(varint(field << 3), varint(value));
    return this;
  }

  float(field: number, value: number): this {
    const bytes = Buffer.alloc(4);
    bytes.writeFloatLE(value);
    this.parts.push(varint((field << 3) | 5), bytes);
    return this;
  }

  bytes(field: number, value: Buffer | string | Message): this {
    const data = value instanceof Message ? value.toBuffer() : Buffer.from(value);
    this.parts.push(varint((field << 3) | 2), varint(data.length), data);
    return this;
  }

  packedInts(field: number, values: ReadonlyArray<number>): this {
    return this.bytes(field, Buffer.concat(values.map((value) => varint(value))));
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface OnnxTensor {
  name: string;
  type: OnnxTypeName;
  dims: number[];
  data: Float32Array | Int32Array | BigInt64Array | Uint16Array;
}

/** A named graph input or output; a string dimension is symbolic (dynamic). */
export interface OnnxValue {
  name: string;
  type: OnnxTypeName;
  shape: Array<number | string>;
}

export type AttributeValue = number | number[] | string | { floats: number[] } | { tensor: OnnxTensor };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeValue>;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
}

/** Where tensor bytes go when a model keeps its weights in a separate file. */
export interface ExternalData {
  location: string;
  chunks: Buffer[];
  length: number;
}

function tensorBytes(tensor: OnnxTensor): Buffer {
  return Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
}

function tensorMessage(tensor: OnnxTensor, external?: ExternalData): Message {
  const message = new Message().packedInts(1, tensor.dims).int(2, OnnxType[tensor.type]).bytes(8, tensor.name);
  const data = tensorBytes(tensor);
  // Shape-like int64 constants stay inline: ORT's shape inference reads them before external data.
  if (!external || tensor.type === 'int64') return message.bytes(9, data);
  const entry = (key: string, value: string): Message => new Message().bytes(1, key).bytes(2, value);
  message.bytes(13, entry('location', external.location));
  message.bytes(13, entry('offset', String(external.length)));
  message.bytes(13, entry('length', String(data.length)));
  external.chunks.push(data);
  external.length += data.length;
  return message.int(14, 1); // data_location: EXTERNAL
}

function attributeMessage(name: string, value: AttributeValue): Message {
  const message = new Message().bytes(1, name);
  if (typeof value === 'number') return message.int(3, value).int(20, 2);
  if (typeof value === 'string') return message.bytes(4, value).int(20, 3);
  if (Array.isArray(value)) return message.packedInts(8, value).int(20, 7);
  if ('floats' in value) {
    const data = Buffer.alloc(value.floats.length * 4);
    value.floats.forEach((float, index) => data.writeFloatLE(float, index * 4));
    return message.bytes(7, data).int(20, 6);
  }
  return message.bytes(5, tensorMessage(value.tensor)).int(20, 4);
}

function valueMessage(value: OnnxValue): Message {
  const shape = new Message();
  for (const dim of value.shape) shape.bytes(1, typeof dim === 'number' ? new Message().int(1, dim) : new Message().bytes(2, dim));
  const tensorType = new Message().int(1, OnnxType[value.type]).bytes(2, shape);
  return new Message().bytes(1, value.name).bytes(2, new Message().bytes(1, tensorType));
}

/**
 * Serialises a model (IR 8, opset 17). With `external`, every weight's bytes are appended
 * to it instead of the model file, the way large UNet exports keep `model.onnx_data`.
 */
export function encodeModel(graph: OnnxGraph, external?: ExternalData): Buffer {
  const body = new Message();
  graph.nodes.forEach((node, index) => {
    const message = new Message();
    for (const input of node.inputs) message.bytes(1, input);
    for (const output of node.outputs) message.bytes(2, output);
    message.bytes(3, `${node.op}_${index}`).bytes(4, node.op);
    for (const [name, value] of Object.entries(node.attributes ?? {})) message.bytes(5, attributeMessage(name, value));
    body.bytes(1, message);
  });
  body.bytes(2, graph.name);
  for (const tensor of graph.initializers) body.bytes(5, tensorMessage(tensor, external));
  for (const input of graph.inputs) body.bytes(11, valueMessage(input));
  for (const output of graph.outputs) body.bytes(12, valueMessage(output));
  const opset = new Message().bytes(1, '').int(2, 17);
  return new Message().int(1, 8).bytes(2, 'node-red-contrib-image-gen sandbox').bytes(7, body).bytes(8, opset).toBuffer();
}
