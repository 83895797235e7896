/**
 * The safetensors format (https://github.com/huggingface/safetensors): an
 * 8-byte little-endian header length N, N bytes of JSON header (padded with
 * spaces so that the data starts at a multiple of 8), then the tensors' raw
 * little-endian bytes, back to back. The header maps each tensor name to
 * `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data
 * section) and may carry a string→string `__metadata__` map.
 *
 * Only `F32` and `F16` are written and read; `F16` is widened to float32 on
 * read. Reading validates the layout and names the file in every error.
 *
 * @module
 */
import type { HostTensor } from "../model/parameters.ts";

/** Element types written and read here. */
export type SafetensorsDType = "F32" | "F16";

/** A malformed safetensors file or an unwritable tensor; the message names the file or tensor. */
export class SafetensorsError extends Error {
  /** Error name. */
  override name = "SafetensorsError";
}

/** Contents of a safetensors file. */
export interface SafetensorsFile {
  /** Tensors in file order, as float32. */
  tensors: Map<string, HostTensor>;
  /** The `__metadata__` map (empty when absent). */
  metadata: Record<string, string>;
}

const BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2 };
/** Larger headers are refused, like the reference implementation does. */
const MAX_HEADER = 100_000_000;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The IEEE binary16 bits nearest to `value` rounded to float32 first
 * (round to nearest, ties to even; overflow gives ±Infinity; NaN stays NaN).
 */
export function f32ToF16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    return sign | roundShift(mant | 0x800000, 14 - e);
  }
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  return sign | roundShift((e << 23) | mant, 13);
}

/** `v >> shift`, rounded to nearest with ties to even. */
function roundShift(v: number, shift: number): number {
  const half = 1 << (shift - 1);
  const rest = v & ((1 << shift) - 1);
  const r = v >>> shift;
  return rest > half || (rest === half && r & 1) ? r + 1 : r;
}

/** The value of the IEEE binary16 bits `h`. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Serialises `tensors` (in map order) as a safetensors file with every tensor
 * stored as `dtype`, and `metadata` as its `__metadata__`.
 */
export function writeSafetensors(
  tensors: ReadonlyMap<string, HostTensor>,
  dtype: SafetensorsDType,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === "__metadata__") {
      throw new SafetensorsError("a tensor cannot be named __metadata__");
    }
    if (t.data.length !== numel(t.shape)) {
      throw new SafetensorsError(
        `tensor ${name}: ${t.data.length} values do not fill shape [${t.shape}]`,
      );
    }
    const end = offset + t.data.length * BYTES[dtype];
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  // The data section starts at a multiple of 8, so typed views below are aligned.
  let at = 8 + headerLen;
  for (const t of tensors.values()) {
    if (dtype === "F32") {
      new Float32Array(out.buffer, at, t.data.length).set(t.data);
    } else {
      const half = new Uint16Array(out.buffer, at, t.data.length);
      for (let i = 0; i < t.data.length; i++) half[i] = f32ToF16(t.data[i]);
    }
    at += t.data.length * BYTES[dtype];
  }
  return out;
}

let f16Table: Float32Array | undefined;

function decode(bytes: Uint8Array, dtype: SafetensorsDType): Float32Array {
  const copy = bytes.slice().buffer;
  if (dtype === "F32") return new Float32Array(copy);
  f16Table ??= Float32Array.from({ length: 65536 }, (_, h) => f16ToF32(h));
  const table = f16Table;
  return Float32Array.from(new Uint16Array(copy), (h) => table[h]);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates a safetensors file: header length within the file,
 * JSON header, dtypes, shapes matching byte counts, offsets in range, neither
 * overlapping nor leaving holes. `source` names the file in errors.
 */
export function readSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${source}: ${msg}`);
  };
  if (bytes.length < 8) fail("not a safetensors file (shorter than its 8-byte header length)");
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(Math.min(bytes.length - 8, MAX_HEADER))) {
    fail(`not a safetensors file or truncated (header length ${n}, file size ${bytes.length})`);
  }
  const dataStart = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart)),
    );
  } catch {
    fail("not a safetensors file (header is not valid UTF-8 JSON)");
  }
  if (!isRecord(header)) return fail("safetensors header is not a JSON object");
  const data = bytes.subarray(dataStart);

  const metadata: Record<string, string> = {};
  const spans: {
    name: string;
    dtype: SafetensorsDType;
    shape: number[];
    begin: number;
    end: number;
  }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isRecord(entry)) fail("__metadata__ is not an object");
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__ value of ${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    if (!isRecord(entry)) return fail(`tensor ${name}: header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (dtype !== "F32" && dtype !== "F16") {
      fail(`tensor ${name}: unsupported dtype ${JSON.stringify(dtype)} (only F32 and F16)`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`tensor ${name}: invalid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(`tensor ${name}: invalid data_offsets`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end || end > data.length) {
      fail(`tensor ${name}: data_offsets [${begin}, ${end}] outside the ${data.length}-byte data`);
    }
    const d = dtype as SafetensorsDType;
    if (end - begin !== numel(shape as number[]) * BYTES[d]) {
      fail(`tensor ${name}: ${end - begin} bytes do not match ${d} shape [${shape}]`);
    }
    spans.push({ name, dtype: d, shape: shape as number[], begin, end });
  }

  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const s of spans) {
    if (s.begin < covered) fail(`tensor ${s.name}: data overlaps the previous tensor`);
    if (s.begin > covered) fail(`tensor ${s.name}: hole in the data before this tensor`);
    covered = s.end;
  }
  if (covered !== data.length) {
    fail(`${data.length - covered} trailing bytes after the last tensor`);
  }

  const tensors = new Map<string, HostTensor>();
  for (const s of spans) {
    tensors.set(s.name, { shape: s.shape, data: decode(data.subarray(s.begin, s.end), s.dtype) });
  }
  return { tensors, metadata };
}
