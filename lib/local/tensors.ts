import type { InferenceSession, Tensor } from 'onnxruntime-node';

/** onnxruntime-node's module, loaded lazily by the runner process only. */
export type OnnxRuntime = typeof import('onnxruntime-node');

/** The shape and type an ONNX model declares for an input; dimensions may be symbolic (strings). */
export interface InputSpec {
  name: string;
  type: Tensor.Type;
  shape: ReadonlyArray<number | string>;
}

/** One input's declared type and shape, from `session.inputMetadata`, or an error naming what is missing. */
export function inputSpec(session: InferenceSession, name: string, component: string): InputSpec {
  const metadata = session.inputMetadata.find((input) => input.name === name);
  if (!metadata) throw new Error(`${component} has no input "${name}" (it has ${session.inputNames.join(', ')}): is it a Stable Diffusion 1.x/2.x export?`);
  if (!metadata.isTensor) throw new Error(`${component} input "${name}" is not a tensor`);
  return { name, type: metadata.type, shape: metadata.shape };
}

/** Whether a declared dimension accepts any size (symbolic, or unknown). */
export function isDynamic(dimension: number | string | undefined): boolean {
  return typeof dimension !== 'number' || dimension < 0;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary32 to binary16, rounding to nearest even. */
export function toHalf(value: number): number {
  f32[0] = value;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) return sign | Math.round(Math.abs(f32[0]) * 2 ** 24); // subnormal (or zero)
  const half = sign | (halfExponent << 10) | (mantissa >> 13);
  const remainder = mantissa & 0x1fff;
  return remainder > 0x1000 || (remainder === 0x1000 && half & 1) ? half + 1 : half;
}

/** IEEE 754 binary16 to a number. */
export function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** A float tensor of the type the model declares: float32 as is, float16 converted. */
export function floatTensor(ort: OnnxRuntime, type: Tensor.Type, data: Float32Array, dims: number[]): Tensor {
  if (type === 'float32') return new ort.Tensor('float32', data, dims);
  if (type === 'float16') return new ort.Tensor('float16', Uint16Array.from(data, toHalf), dims);
  throw new Error(`expected a float input, but the model declares ${type}`);
}

/** A tensor's values as float32, whatever float type the model gave. */
export function readFloats(tensor: Tensor): Float32Array {
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  if (tensor.type === 'float16') {
    const data = tensor.data as ArrayLike<number>;
    // onnxruntime gives raw binary16 bits in a Uint16Array (or values, where Float16Array exists).
    return data instanceof Uint16Array ? Float32Array.from(data, fromHalf) : Float32Array.from(data);
  }
  throw new Error(`expected a float output, got ${tensor.type}`);
}

/** Token ids as the text encoder declares them: int32 or int64. */
export function idsTensor(ort: OnnxRuntime, spec: InputSpec, ids: Int32Array): Tensor {
  if (spec.type === 'int32') return new ort.Tensor('int32', ids, [1, ids.length]);
  if (spec.type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]);
  throw new Error(`text encoder input_ids must be int32 or int64, not ${spec.type}`);
}

/** The timestep as the UNet declares it: int64, float or float16; per batch entry [B], or a 0-d scalar. */
export function timestepTensor(ort: OnnxRuntime, spec: InputSpec, timestep: number, batch: number): Tensor {
  // A 0-d scalar, one element for the whole batch (declared [1]), or one per batch entry.
  const declared = spec.shape[0];
  const dims = spec.shape.length === 0 ? [] : [isDynamic(declared) ? batch : Number(declared)];
  const count = dims[0] ?? 1;
  if (spec.type === 'int64') return new ort.Tensor('int64', new BigInt64Array(count).fill(BigInt(Math.round(timestep))), dims);
  if (spec.type === 'int32') return new ort.Tensor('int32', new Int32Array(count).fill(Math.round(timestep)), dims);
  return floatTensor(ort, spec.type, new Float32Array(count).fill(timestep), dims);
}
