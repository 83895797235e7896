/**
 * Reads the model state dict out of a PyTorch zip checkpoint (`torch.save`,
 * PyTorch ≥ 1.6): `<root>/data.pkl` describes the saved object, tensors are
 * strided views of the raw little-endian storages `<root>/data/<key>`.
 *
 * Understood containers: a PyTorch-Lightning checkpoint (`state_dict` with
 * `matcher.`-prefixed keys), a training checkpoint with `model_state_dict`
 * (optimizer and scaler state are ignored and never materialised), or a bare
 * state dict. Float tensors become float32; integer `num_batches_tracked`
 * counters are dropped.
 *
 * @module
 */
import { unzipSync } from "../deps.ts";
import { f16ToF32 } from "../safetensors.ts";
import {
  CheckpointError,
  DTYPE_BYTES,
  type PickleKey,
  type PickleValue,
  type StorageRef,
  type TensorRef,
  unpickle,
} from "./pickle.ts";
import type { HostTensor } from "../../model/parameters.ts";

export { CheckpointError };

const PICKLE_ENTRY = /^(?:[^/]+\/)?data\.pkl$/;

function isTensor(v: PickleValue | undefined): v is TensorRef {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Map) &&
    v.kind === "tensor";
}

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function crc32(bytes: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** The CRC-32 of every entry, in central-directory order (fflate does not check them). */
function centralCrcs(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = bytes.length - 22;
  while (view.getUint32(eocd, true) !== 0x06054b50) eocd--;
  let count = view.getUint16(eocd + 10, true);
  let at = view.getUint32(eocd + 16, true);
  if (eocd >= 20 && view.getUint32(eocd - 20, true) === 0x07064b50) { // zip64 locator
    const z64 = Number(view.getBigUint64(eocd - 12, true));
    count = Number(view.getBigUint64(z64 + 32, true));
    at = Number(view.getBigUint64(z64 + 48, true));
  }
  const crcs: number[] = [];
  for (let i = 0; i < count; i++) {
    if (view.getUint32(at, true) !== 0x02014b50) throw new Error("bad central directory");
    crcs.push(view.getUint32(at + 16, true));
    at += 46 + view.getUint16(at + 28, true) + view.getUint16(at + 30, true) +
      view.getUint16(at + 32, true);
  }
  return crcs;
}

/** Extracts the entries accepted by `want`, checking each is complete and intact. */
function unzip(
  bytes: Uint8Array,
  source: string,
  want: (name: string) => boolean,
): Record<string, Uint8Array> {
  const wanted = new Map<string, { index: number; size: number }>();
  let files: Record<string, Uint8Array>;
  let crcs: number[];
  try {
    let index = 0;
    files = unzipSync(bytes, {
      filter: (f) => {
        const take = want(f.name);
        if (take) wanted.set(f.name, { index, size: f.originalSize });
        index++;
        return take;
      },
    });
    crcs = centralCrcs(bytes);
  } catch (e) {
    throw new CheckpointError(
      `${source}: corrupt or truncated zip archive (${(e as Error).message})`,
    );
  }
  for (const [name, { index, size }] of wanted) {
    if (files[name]?.length !== size) {
      throw new CheckpointError(`${source}: zip entry ${name} is truncated`);
    }
    if (crc32(files[name]) !== crcs[index]) {
      throw new CheckpointError(`${source}: zip entry ${name} is corrupt (CRC-32 mismatch)`);
    }
  }
  return files;
}

/** Picks the model's state dict out of the checkpoint's top-level object. */
function findStateDict(root: PickleValue, source: string): Map<PickleKey, PickleValue> {
  if (!(root instanceof Map)) {
    throw new CheckpointError(`${source}: checkpoint holds no dict, so no state dict`);
  }
  const lightning = root.get("state_dict");
  if (lightning instanceof Map) {
    const matcher = [...lightning].filter(([k]) =>
      typeof k === "string" && k.startsWith("matcher.")
    );
    if (matcher.length === 0) return lightning;
    return new Map(matcher.map(([k, v]) => [(k as string).slice("matcher.".length), v]));
  }
  const model = root.get("model_state_dict");
  if (model instanceof Map) return model;
  if (root.size > 0 && [...root.values()].every(isTensor)) return root;
  const keys = [...root.keys()].slice(0, 6).join(", ");
  throw new CheckpointError(
    `${source}: no state dict found (expected a 'state_dict' or 'model_state_dict' entry or a ` +
      `dict of tensors; top-level keys: ${keys || "none"})`,
  );
}

/** Decodes a storage's raw little-endian bytes into float32 values. */
function decodeStorage(bytes: Uint8Array, storage: StorageRef): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = storage.numel;
  switch (storage.dtype) {
    case "float32":
      return new Float32Array(bytes.slice().buffer, 0, n);
    case "float64":
      return Float32Array.from({ length: n }, (_, i) => view.getFloat64(8 * i, true));
    case "float16":
      return Float32Array.from({ length: n }, (_, i) => f16ToF32(view.getUint16(2 * i, true)));
    case "bfloat16":
      return new Float32Array(
        Uint32Array.from({ length: n }, (_, i) => view.getUint16(2 * i, true) << 16).buffer,
      );
    default:
      throw new Error(`unreachable: ${storage.dtype}`);
  }
}

function isContiguous(t: TensorRef): boolean {
  let expected = 1;
  for (let d = t.shape.length - 1; d >= 0; d--) {
    if (t.shape[d] !== 1 && t.stride[d] !== expected) return false;
    expected *= t.shape[d];
  }
  return true;
}

/** Copies the strided view `t` of `values` into a new contiguous array. */
function gather(values: Float32Array, t: TensorRef, name: string, source: string): Float32Array {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  let last = t.offset;
  for (let d = 0; d < t.shape.length; d++) last += (t.shape[d] - 1) * t.stride[d];
  if (numel > 0 && last >= values.length) {
    throw new CheckpointError(
      `${source}: tensor ${name} [${t.shape}] reaches past the end of its storage ` +
        `(${values.length} elements)`,
    );
  }
  if (isContiguous(t)) return values.slice(t.offset, t.offset + numel);
  const out = new Float32Array(numel);
  const rank = t.shape.length;
  const index = new Array<number>(rank).fill(0);
  let src = t.offset;
  for (let i = 0; i < numel; i++) {
    out[i] = values[src];
    for (let d = rank - 1; d >= 0; d--) {
      src += t.stride[d];
      if (++index[d] < t.shape[d]) break;
      src -= t.stride[d] * t.shape[d];
      index[d] = 0;
    }
  }
  return out;
}

/**
 * Reads the float tensors of the model state dict in the `torch.save` zip
 * `bytes`, in checkpoint order, with the `matcher.` prefix of Lightning
 * checkpoints removed. `source` names the file in errors; every problem is a
 * one-line {@link CheckpointError}.
 */
export function readTorchCheckpoint(bytes: Uint8Array, source: string): Map<string, HostTensor> {
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) {
    throw new CheckpointError(
      `${source}: not a PyTorch checkpoint (not a zip archive; the legacy pre-1.6 torch.save ` +
        "format is not supported)",
    );
  }
  const pickles = unzip(bytes, source, (name) => PICKLE_ENTRY.test(name));
  const names = Object.keys(pickles);
  if (names.length !== 1) {
    throw new CheckpointError(
      `${source}: ${names.length ? "several data.pkl entries" : "no data.pkl entry"} in the zip ` +
        "archive (not a torch.save checkpoint)",
    );
  }
  const root = names[0].slice(0, -"data.pkl".length);
  const stateDict = findStateDict(unpickle(pickles[names[0]], source), source);

  const tensors = new Map<string, TensorRef>();
  for (const [key, value] of stateDict) {
    const name = String(key);
    if (!isTensor(value)) {
      throw new CheckpointError(`${source}: state dict entry ${name} is not a tensor`);
    }
    if (value.storage.dtype.startsWith("float") || value.storage.dtype === "bfloat16") {
      tensors.set(name, value);
    } else if (!name.endsWith("num_batches_tracked")) {
      throw new CheckpointError(
        `${source}: tensor ${name} has unsupported dtype ${value.storage.dtype}`,
      );
    }
  }

  const wanted = new Set([...tensors.values()].map((t) => `${root}data/${t.storage.key}`));
  const entries = unzip(bytes, source, (name) => wanted.has(name));
  const decoded = new Map<string, Float32Array>();
  const result = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    const entry = `${root}data/${t.storage.key}`;
    let values = decoded.get(entry);
    if (!values) {
      const raw = entries[entry];
      if (!raw) {
        throw new CheckpointError(`${source}: storage ${entry} of tensor ${name} is missing`);
      }
      if (raw.length !== t.storage.numel * DTYPE_BYTES[t.storage.dtype]) {
        throw new CheckpointError(
          `${source}: storage ${entry} has ${raw.length} bytes, expected ` +
            `${t.storage.numel} ${t.storage.dtype} elements`,
        );
      }
      values = decodeStorage(raw, t.storage);
      decoded.set(entry, values);
    }
    result.set(name, { shape: [...t.shape], data: gather(values, t, name, source) });
  }
  return result;
}
