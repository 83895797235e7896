/**
 * Test helper: writes `torch.save` checkpoints by hand (pickle protocol 2 in a
 * stored zip), so the converter's tests need neither Python nor real files.
 */
import { zipSync } from "../../src/io/deps.ts";

/** Pickle opcodes and their operands, as bytes. */
export type Op = number[];

/** UTF-8 bytes of `s`. */
export const utf8 = (s: string): Op => [...new TextEncoder().encode(s)];
const u32 = (n: number): Op => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
/** BINUNICODE. */
export const str = (s: string): Op => [0x58, ...u32(utf8(s).length), ...utf8(s)];
/** BININT. */
export const int = (n: number): Op => [0x4a, ...u32(n >>> 0)];
/** GLOBAL `module.name`. */
export const global = (module: string, name: string): Op => [
  0x63,
  ...utf8(`${module}\n${name}\n`),
];
/** MARK … TUPLE. */
export const tuple = (...items: Op[]): Op => [0x28, ...items.flat(), 0x74];
/** `callee(*args)` (REDUCE). */
export const call = (callee: Op, args: Op): Op => [...callee, ...args, 0x52];
/** EMPTY_DICT MARK … SETITEMS. */
export const dict = (entries: [string, Op][]): Op => [
  0x7d,
  0x28,
  ...entries.flatMap(([k, v]) => [...str(k), ...v]),
  0x75,
];
/** PROTO 2 … STOP. */
export const pickle = (body: Op): Uint8Array => Uint8Array.from([0x80, 2, ...body, 0x2e]);

/** Row-major strides of `shape`. */
export function contiguous(shape: number[]): number[] {
  return shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
}

/** `_rebuild_tensor_v2(storage, offset, shape, stride, False, OrderedDict())`. */
export function tensorOp(
  key: string,
  storageType: string,
  numel: number,
  shape: number[],
  stride = contiguous(shape),
  offset = 0,
): Op {
  const storage = tuple(
    str("storage"),
    global("torch", storageType),
    str(key),
    str("cpu"),
    int(numel),
  );
  return call(
    global("torch._utils", "_rebuild_tensor_v2"),
    tuple(
      [...storage, 0x51],
      int(offset),
      tuple(...shape.map(int)),
      tuple(...stride.map(int)),
      [0x89],
      call(global("collections", "OrderedDict"), [0x29]),
    ),
  );
}

/** A torch.save-style zip (stored entries) under the root folder `root`. */
export function torchZip(
  pkl: Uint8Array,
  storages: Record<string, Uint8Array>,
  root = "ckpt",
): Uint8Array {
  const files: Record<string, Uint8Array> = { [`${root}/data.pkl`]: pkl };
  for (const [key, data] of Object.entries(storages)) files[`${root}/data/${key}`] = data;
  files[`${root}/version`] = Uint8Array.from(utf8("3\n"));
  return zipSync(files, { level: 0 });
}
