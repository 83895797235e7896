/**
 * A pickle reader that is safe by construction: it understands only the
 * opcodes that `torch.save` writes for a state dict (protocol 2, plus the
 * framing/memo opcodes of protocol 4), and resolves `GLOBAL` references
 * against a fixed allow-list of PyTorch types, each mapped to a plain data
 * constructor. Nothing is ever imported, called or evaluated; any other
 * global or opcode is refused with a {@link CheckpointError}.
 *
 * Tensors come out as {@link TensorRef}s that point at storages by key; their
 * bytes are read later (and only when needed) by `torch.ts`.
 *
 * @module
 */

/** An unreadable, corrupt or refused checkpoint file; the message names the file. */
export class CheckpointError extends Error {
  /** Error name. */
  override name = "CheckpointError";
}

/** Element types of PyTorch storages, named after `torch.<Name>Storage`. */
export type StorageDType =
  | "float32"
  | "float16"
  | "bfloat16"
  | "float64"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

/** Bytes per element of each storage type. */
export const DTYPE_BYTES: Readonly<Record<StorageDType, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** A storage referenced by a persistent id: the zip entry `data/<key>`. */
export interface StorageRef {
  /** Discriminant. */
  readonly kind: "storage";
  /** Entry name under `data/`. */
  readonly key: string;
  /** Element type. */
  readonly dtype: StorageDType;
  /** Number of elements the storage holds. */
  readonly numel: number;
}

/** A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view of a storage. */
export interface TensorRef {
  /** Discriminant. */
  readonly kind: "tensor";
  /** The underlying storage. */
  readonly storage: StorageRef;
  /** Offset of the first element, in elements. */
  readonly offset: number;
  /** Shape, outermost first. */
  readonly shape: readonly number[];
  /** Stride of each dimension, in elements. */
  readonly stride: readonly number[];
}

/** Dictionary keys that can occur in a state dict's pickle. */
export type PickleKey = string | number | boolean | null;

/**
 * A value decoded from a checkpoint pickle. Dicts (also `OrderedDict`) are
 * `Map`s; lists and tuples are arrays.
 */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PickleValue[]
  | Map<PickleKey, PickleValue>
  | TensorRef
  | StorageRef
  | AllowedGlobal;

/** A global from the allow-list: a storage type or a plain data constructor. */
export type AllowedGlobal =
  | { readonly kind: "storage-type"; readonly name: string; readonly dtype: StorageDType }
  | {
    readonly kind: "constructor";
    readonly name: string;
    readonly build: (args: PickleValue[], fail: (msg: string) => never) => PickleValue;
  };

const STORAGE_TYPES: Record<string, StorageDType> = {
  FloatStorage: "float32",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  DoubleStorage: "float64",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

function isInt(v: PickleValue): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function intTuple(v: PickleValue): v is number[] {
  return Array.isArray(v) && v.every(isInt);
}

function rebuildTensor(args: PickleValue[], fail: (msg: string) => never): TensorRef {
  const [storage, offset, shape, stride] = args;
  if (
    args.length < 4 || typeof storage !== "object" || storage === null ||
    !("kind" in storage) || storage.kind !== "storage" || !isInt(offset) ||
    !intTuple(shape) || !intTuple(stride) || shape.length !== stride.length
  ) {
    fail("malformed _rebuild_tensor_v2 arguments");
  }
  return { kind: "tensor", storage, offset, shape, stride };
}

function rebuildParameter(args: PickleValue[], fail: (msg: string) => never): TensorRef {
  const data = args[0];
  if (typeof data !== "object" || data === null || !("kind" in data) || data.kind !== "tensor") {
    fail("malformed _rebuild_parameter arguments");
  }
  return data;
}

/** The only globals a checkpoint may name, each mapped to a data constructor. */
const ALLOWED: ReadonlyMap<string, AllowedGlobal> = new Map<string, AllowedGlobal>([
  ["collections.OrderedDict", {
    kind: "constructor",
    name: "collections.OrderedDict",
    build: (args, fail) => args.length === 0 ? new Map() : fail("OrderedDict with arguments"),
  }],
  ["torch._utils._rebuild_tensor_v2", {
    kind: "constructor",
    name: "torch._utils._rebuild_tensor_v2",
    build: rebuildTensor,
  }],
  ["torch._utils._rebuild_parameter", {
    kind: "constructor",
    name: "torch._utils._rebuild_parameter",
    build: rebuildParameter,
  }],
  ...Object.entries(STORAGE_TYPES).map(([type, dtype]): [string, AllowedGlobal] => [
    `torch.${type}`,
    { kind: "storage-type", name: `torch.${type}`, dtype },
  ]),
]);

const MARK = Symbol("mark");
type StackItem = PickleValue | typeof MARK;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes the pickle `data` (the `data.pkl` of a `torch.save` zip). `source`
 * names the file in error messages. Throws {@link CheckpointError} on any
 * opcode or global outside the allow-list, and on malformed or truncated data.
 */
export function unpickle(data: Uint8Array, source: string): PickleValue {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  let opPos = 0;

  const fail = (msg: string): never => {
    throw new CheckpointError(`${source}: ${msg} (pickle byte ${opPos})`);
  };
  const need = (n: number): number => {
    if (pos + n > data.length) fail("pickle data is truncated");
    const at = pos;
    pos += n;
    return at;
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) fail("pickle stack underflow");
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail("pickle stack underflow");
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail("pickle MARK missing");
    const items = stack.splice(at) as PickleValue[];
    return items.slice(1);
  };
  const decode = (bytes: Uint8Array): string => {
    try {
      return utf8.decode(bytes);
    } catch {
      return fail("invalid UTF-8 in a pickle string");
    }
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) fail("pickle data is truncated");
    const s = decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const text = (n: number): string => decode(data.subarray(need(n), pos));
  const resolve = (module: string, name: string): AllowedGlobal => {
    const g = ALLOWED.get(`${module}.${name}`);
    if (!g) {
      throw new CheckpointError(
        `${source}: refusing pickle global ${module}.${name} ` +
          "(only PyTorch tensor/state-dict types are allowed)",
      );
    }
    return g;
  };
  const asDict = (v: PickleValue, op: string): Map<PickleKey, PickleValue> =>
    v instanceof Map ? v : fail(`${op} on a non-dict`);
  const asList = (v: PickleValue, op: string): PickleValue[] =>
    Array.isArray(v) ? v : fail(`${op} on a non-list`);
  const asKey = (v: PickleValue): PickleKey =>
    v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean"
      ? v
      : fail("unsupported dict key type");
  const setItems = (dict: Map<PickleKey, PickleValue>, items: PickleValue[]) => {
    if (items.length % 2) fail("odd number of SETITEMS values");
    for (let i = 0; i < items.length; i += 2) dict.set(asKey(items[i]), items[i + 1]);
  };
  const persistent = (pid: PickleValue): StorageRef => {
    const [tag, type, key, , numel] = Array.isArray(pid) ? pid : [];
    if (
      tag !== "storage" || typeof type !== "object" || type === null || !("kind" in type) ||
      type.kind !== "storage-type" || typeof key !== "string" || !isInt(numel ?? null)
    ) {
      fail("unsupported persistent id (expected a PyTorch storage reference)");
    }
    const storageType = type as { dtype: StorageDType };
    return {
      kind: "storage",
      key: key as string,
      dtype: storageType.dtype,
      numel: numel as number,
    };
  };

  while (true) {
    opPos = pos;
    const op = data[need(1)];
    switch (op) {
      case 0x80: // PROTO
        if (data[need(1)] > 4) fail(`unsupported pickle protocol ${data[pos - 1]}`);
        break;
      case 0x95: // FRAME: an 8-byte length we need not use
        need(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail("pickle stack is not a single value at STOP");
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: { // TUPLE3
        const items = Array.from({ length: op - 0x84 }, pop).reverse();
        stack.push(items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(data[need(1)], top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(view.getUint32(need(4), true), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const id = op === 0x68 ? data[need(1)] : view.getUint32(need(4), true);
        const v = memo.get(id);
        if (v === undefined) fail(`pickle memo ${id} is missing`);
        stack.push(v as PickleValue);
        break;
      }
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(data[need(1)]);
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(need(2), true));
        break;
      case 0x8a: { // LONG1: little-endian two's complement of n bytes
        const n = data[need(1)];
        const bytes = data.subarray(need(n), pos);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
        if (n > 0 && bytes[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        const small = Number(v);
        stack.push(Number.isSafeInteger(small) ? small : v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(view.getUint32(need(4), true)));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(data[need(1)]));
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x73: { // SETITEM
        const value = pop();
        const key = pop();
        setItems(asDict(top(), "SETITEM"), [key, value]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(asDict(top(), "SETITEMS"), items);
        break;
      }
      case 0x61: { // APPEND
        const value = pop();
        asList(top(), "APPEND").push(value);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        asList(top(), "APPENDS").push(...items);
        break;
      }
      case 0x63: { // GLOBAL: "module\nname\n"
        const module = line();
        stack.push(resolve(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") fail("malformed STACK_GLOBAL");
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x52: { // REDUCE: only the allow-listed data constructors
        const args = pop();
        const callee = pop();
        if (!Array.isArray(args)) fail("REDUCE arguments are not a tuple");
        if (
          typeof callee !== "object" || callee === null || !("kind" in callee) ||
          callee.kind !== "constructor"
        ) {
          fail("REDUCE on something that is not an allowed constructor");
        }
        const ctor = callee as Extract<AllowedGlobal, { kind: "constructor" }>;
        stack.push(ctor.build(args as PickleValue[], (msg) => fail(`${ctor.name}: ${msg}`)));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x62: // BUILD: only the `_metadata` state of an OrderedDict, which we drop
        pop();
        asDict(top(), "BUILD");
        break;
      default:
        fail(
          `unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")} ` +
            "(only the opcodes of a PyTorch state dict are allowed)",
        );
    }
  }
}
