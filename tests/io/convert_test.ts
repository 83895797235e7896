/**
 * The checkpoint converter: safe pickle reading, torch.save zips, safetensors,
 * the bundled model, and the `convert` command. Checkpoints are built by hand
 * here (a tiny pickle writer and fflate), so most tests need no ../shared.
 */
import assert from "node:assert/strict";
import { zipSync } from "../../src/io/deps.ts";
import { ArchitectureError } from "../../src/model/architecture.ts";
import { CheckpointError, unpickle } from "../../src/io/checkpoint/pickle.ts";
import { readTorchCheckpoint } from "../../src/io/checkpoint/torch.ts";
import { main } from "../../src/cli/convert.ts";
import { run } from "../../src/cli/common.ts";
import {
  f16ToF32,
  f32ToF16,
  readSafetensors,
  SafetensorsError,
  writeSafetensors,
} from "../../src/io/safetensors.ts";
import { BUNDLED_WEIGHTS, convertCheckpoint, loadWeights } from "../../src/io/weights.ts";
import { needsShared, rejection, sharedDir } from "../support/util.ts";
import {
  call,
  dict,
  global,
  int,
  pickle,
  str,
  tensorOp,
  torchZip,
  tuple,
  utf8,
} from "../support/torch_writer.ts";
import type { HostTensor } from "../../src/model/parameters.ts";
import { bytesOf, tinyLightningCheckpoint } from "../support/tiny_checkpoint.ts";

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

// ---- the bundled model ----

Deno.test("bundled weights: the Kolkir coarse LoFTR loads with its architecture", async () => {
  const w = await loadWeights(BUNDLED_WEIGHTS);
  const c = w.config;
  assert.equal(c.backbone, "ResNetFPN_16_4");
  assert.deepEqual([c.initialDim, c.blockDims, c.coarseStride], [8, [8, 16, 32, 32], 16]);
  assert.deepEqual(c.coarse, {
    dModel: 32,
    nHeads: 1,
    layers: ["self", "cross", "self", "cross"],
    layerNormEps: 1e-7,
  });
  assert.equal(c.fine, null);
  assert.equal(c.posEncoding, "legacy");
  assert.equal(c.matching.threshold, 0.01);
  assert.equal(w.tensors.size, 155);
  assert.equal([...w.tensors.values()].reduce((n, t) => n + t.data.length, 0), 159_848);
  assert.deepEqual(w.tensors.get("backbone.conv1.weight")?.shape, [8, 1, 7, 7]);
  assert.ok(![...w.tensors.keys()].some((k) => k.endsWith("num_batches_tracked")));
  assert.match(w.source, /weights\/coarse_loftr_teacher\.safetensors$/);
  const { metadata } = readSafetensors(await Deno.readFile(BUNDLED_WEIGHTS), "bundle");
  assert.equal(metadata.source, "kolkir_coarse_loftr_teacher.pt");
  assert.equal(metadata.converter, "deno-loftr");
  assert.equal(metadata.format, "pt");
});

// ---- safe pickle reading ----

Deno.test("pickle: refuses globals outside the allow-list and never runs them", () => {
  const tmp = Deno.makeTempDirSync();
  const marker = `${tmp}/pwned`;
  const evil = pickle(call(global("os", "system"), tuple(str(`touch ${marker}`))));
  const e = thrown(() => readTorchCheckpoint(torchZip(evil, {}), "evil.pt"));
  assert.ok(e instanceof CheckpointError);
  assert.equal(
    e.message,
    "evil.pt: refusing pickle global os.system (only PyTorch tensor/state-dict types are allowed)",
  );
  assert.throws(() => Deno.statSync(marker), Deno.errors.NotFound);
  Deno.removeSync(tmp);

  // The same through convertCheckpoint, and via protocol 4's STACK_GLOBAL.
  assert.throws(
    () => convertCheckpoint(torchZip(evil, {}), "evil.pt", { dtype: "f32" }),
    /^CheckpointError: evil\.pt: refusing pickle global os\.system/,
  );
  const stackGlobal = Uint8Array.from([
    0x80,
    4,
    ...[0x8c, 8, ...utf8("builtins"), 0x8c, 4, ...utf8("eval"), 0x93],
    ...tuple(str("1+1")),
    0x52,
    0x2e,
  ]);
  assert.throws(
    () => unpickle(stackGlobal, "x.pkl"),
    /x\.pkl: refusing pickle global builtins\.eval/,
  );
  // Allowed names cannot be combined into other calls: REDUCE on a storage type is refused.
  assert.throws(
    () => unpickle(pickle(call(global("torch", "FloatStorage"), tuple())), "x.pkl"),
    /x\.pkl: REDUCE on something that is not an allowed constructor/,
  );
});

Deno.test("pickle: refuses opcodes outside the state-dict subset", () => {
  // INST ('i'): calls module.name with the marked arguments in protocol 0.
  const inst = Uint8Array.from([0x80, 2, 0x28, ...utf8("i" + "os\nsystem\n"), 0x2e]);
  assert.equal(
    thrown(() => unpickle(inst, "x.pkl")).message,
    "x.pkl: unsupported pickle opcode 0x69 (only the opcodes of a PyTorch state dict are allowed) " +
      "(pickle byte 3)",
  );
  assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x58, 9, 0, 0]), "x.pkl"), /truncated/);
  assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x30, 0x2e]), "x.pkl"), /opcode 0x30/);
});

Deno.test("pickle: decodes Python-written protocol 2 and 4 data", () => {
  // pickle.dumps({'a': 1.5, 'b': [1, -7, 300, 70000, 2**40, -2**70, True, False, None],
  //               'c': ('x', 'é')}, protocol=2 / 4)
  const p2 =
    "80027d7100285801000000617101473ff800000000000058010000006271025d7103284b014af9ffffff" +
    "4d2c014a701101008a060000000000018a090000000000000000c088894e65580100000063710458010000" +
    "007871055802000000c3a97106867107752e";
  const p4 =
    "8004954e000000000000007d94288c016194473ff80000000000008c0162945d94284b014af9ffffff4d" +
    "2c014a701101008a060000000000018a090000000000000000c088894e658c0163948c0178948c02c3a994" +
    "8694752e";
  const want = new Map<string, unknown>([
    ["a", 1.5],
    ["b", [1, -7, 300, 70000, 2 ** 40, -(2n ** 70n), true, false, null]],
    ["c", ["x", "é"]],
  ]);
  for (const hex of [p2, p4]) {
    const bytes = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
    assert.deepEqual(unpickle(bytes, "py.pkl"), want);
  }
});

// ---- torch.save zips ----

Deno.test("torch: Lightning checkpoint → matcher. prefix stripped, counters dropped", () => {
  const { bytes, tensors } = tinyLightningCheckpoint();
  const read = readTorchCheckpoint(bytes, "tiny.ckpt");
  assert.deepEqual([...read.keys()], [...tensors.keys()]);
  for (const [name, t] of tensors) assert.deepEqual(read.get(name), t, name);
});

Deno.test("torch: strided, shared, half, double, bfloat16 and parameter tensors", () => {
  const base = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
  const half = Uint16Array.from([0x3c00, 0xc000, 0x3555]); // 1, -2, 0.333251953125
  const double = Float64Array.from([0.1, -1e30]);
  const bf16 = Uint16Array.from([0x3fc0]); // 1.5
  const sd = dict([
    ["t", tensorOp("0", "FloatStorage", 8, [2, 3], [1, 2])], // transposed view of a [3, 2]
    ["shared", tensorOp("0", "FloatStorage", 8, [2], [1], 6)],
    ["scalar", tensorOp("0", "FloatStorage", 8, [], [], 7)],
    ["h", tensorOp("1", "HalfStorage", 3, [3])],
    ["d", tensorOp("2", "DoubleStorage", 2, [2])],
    ["b", tensorOp("3", "BFloat16Storage", 1, [1])],
    [
      "p",
      call(
        global("torch._utils", "_rebuild_parameter"),
        tuple(
          tensorOp("0", "FloatStorage", 8, [2, 2]),
          [0x88],
          call(global("collections", "OrderedDict"), [0x29]),
        ),
      ),
    ],
    ["bn.num_batches_tracked", tensorOp("4", "LongStorage", 1, [])],
  ]);
  const zip = torchZip(pickle(sd), {
    0: bytesOf(base),
    1: bytesOf(half),
    2: bytesOf(double),
    3: bytesOf(bf16),
    4: bytesOf(new BigInt64Array([1n])),
  });
  const read = readTorchCheckpoint(zip, "mixed.pt");
  const get = (n: string) => ({ shape: read.get(n)?.shape, data: [...read.get(n)?.data ?? []] });
  assert.deepEqual(get("t"), { shape: [2, 3], data: [0, 2, 4, 1, 3, 5] });
  assert.deepEqual(get("shared"), { shape: [2], data: [6, 7] });
  assert.deepEqual(get("scalar"), { shape: [], data: [7] });
  assert.deepEqual(get("h"), { shape: [3], data: [1, -2, 0.333251953125] });
  assert.deepEqual(get("d"), { shape: [2], data: [Math.fround(0.1), Math.fround(-1e30)] });
  assert.deepEqual(get("b"), { shape: [1], data: [1.5] });
  assert.deepEqual(get("p"), { shape: [2, 2], data: [0, 1, 2, 3] });
  assert.ok(!read.has("bn.num_batches_tracked"));
});

Deno.test("torch: model_state_dict beside optimizer state whose storages are never read", () => {
  const w = Float32Array.from([1, 2, 3, 4]);
  const root = dict([
    ["epoch", int(34)],
    ["model_state_dict", dict([["w", tensorOp("0", "FloatStorage", 4, [2, 2])]])],
    // "99" is not in the zip: reading it would fail, so this proves it is left alone.
    [
      "optimizer_state_dict",
      dict([["state", dict([["exp_avg", tensorOp("99", "FloatStorage", 4, [4])]])]]),
    ],
  ]);
  const read = readTorchCheckpoint(torchZip(pickle(root), { 0: bytesOf(w) }), "train.pt");
  assert.deepEqual([...read.keys()], ["w"]);
  assert.deepEqual(read.get("w"), { shape: [2, 2], data: w });
});

Deno.test("torch: unreadable files get one-line errors naming the file", async () => {
  const { bytes } = tinyLightningCheckpoint();
  const cases: [Uint8Array, RegExp][] = [
    [bytes.subarray(0, bytes.length - 100), /^f\.ckpt: corrupt or truncated zip archive/],
    [bytes.subarray(0, 5000), /^f\.ckpt: corrupt or truncated zip archive/],
    [new TextEncoder().encode("hello, world"), /^f\.ckpt: not a PyTorch checkpoint \(not a zip/],
    [new Uint8Array(0), /^f\.ckpt: not a PyTorch checkpoint/],
    [zipSync({ "a/version": utf8Bytes("3\n") }), /^f\.ckpt: no data\.pkl entry in the zip/],
    [torchZip(pickle(int(1)), {}), /^f\.ckpt: checkpoint holds no dict/],
    [
      torchZip(pickle(dict([["epoch", int(1)]])), {}),
      /^f\.ckpt: no state dict found .*keys: epoch\)$/,
    ],
    [
      torchZip(pickle(dict([["w", tensorOp("0", "FloatStorage", 4, [4])]])), {}),
      /^f\.ckpt: storage ckpt\/data\/0 of tensor w is missing$/,
    ],
    [
      torchZip(pickle(dict([["w", tensorOp("0", "FloatStorage", 4, [5])]])), {
        0: new Uint8Array(16),
      }),
      /^f\.ckpt: tensor w \[5\] reaches past the end of its storage \(4 elements\)$/,
    ],
  ];
  for (const [data, message] of cases) {
    const e = thrown(() => readTorchCheckpoint(data, "f.ckpt"));
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, message);
    assert.ok(!e.message.includes("\n"));
  }
  // A flipped byte inside a tensor's storage is caught by the zip CRC.
  const corrupt = bytes.slice();
  const at = indexOf(
    corrupt,
    bytesOf(tinyLightningCheckpoint().tensors.get("backbone.conv1.weight")!.data),
  );
  corrupt[at + 5] ^= 0x40;
  assert.throws(
    () => readTorchCheckpoint(corrupt, "f.ckpt"),
    /^CheckpointError: f\.ckpt: zip entry some_run\/data\/0 is corrupt \(CRC-32 mismatch\)$/,
  );
  // A directory, through the command line.
  const dir = await Deno.makeTempDir();
  const out = capture();
  assert.equal(await run(main, [dir], out), 1);
  assert.deepEqual(out.errors, [`error: ${dir}: cannot read (Is a directory)`]);
  const e = await rejection(loadWeights(dir));
  assert.ok(e instanceof SafetensorsError);
  assert.equal(e.message, `${dir}: cannot read (Is a directory)`);
  await Deno.remove(dir);
});

function utf8Bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

// ---- conversion ----

Deno.test("convert: tiny Lightning LoFTR → safetensors → loadWeights, f32 and f16", async () => {
  const { bytes, tensors } = tinyLightningCheckpoint();
  const f32 = convertCheckpoint(bytes, "/some/dir/tiny.ckpt", {
    dtype: "f32",
    overrides: { coarseHeads: 2, layerNormEps: 1e-6, threshold: 0.3, borderRemoval: 1 },
  });
  assert.deepEqual(
    convertCheckpoint(bytes, "/some/dir/tiny.ckpt", {
      dtype: "f32",
      overrides: { coarseHeads: 2, layerNormEps: 1e-6, threshold: 0.3, borderRemoval: 1 },
    }),
    f32,
    "deterministic",
  );
  const w = await loadWeights(f32, "tiny.safetensors");
  assert.equal(w.source, "tiny.safetensors");
  assert.equal(w.config.backbone, "ResNetFPN_8_2");
  assert.deepEqual(w.config.blockDims, [4, 6, 8]);
  assert.deepEqual(w.config.coarse, {
    dModel: 8,
    nHeads: 2,
    layers: ["self", "cross"],
    layerNormEps: 1e-6,
  });
  assert.deepEqual(w.config.fine, {
    dModel: 8,
    nHeads: 8,
    layers: ["self", "cross"],
    layerNormEps: 1e-6,
    window: 5,
  });
  assert.deepEqual(w.config.matching, { temperature: 0.1, threshold: 0.3, borderRemoval: 1 });
  assert.deepEqual(w.tensors, tensors);
  assert.equal(readSafetensors(f32, "x").metadata.source, "tiny.ckpt");

  const f16 = await loadWeights(convertCheckpoint(bytes, "tiny.ckpt", { dtype: "f16" }));
  for (const [name, t] of tensors) {
    const got = f16.tensors.get(name)!;
    assert.deepEqual(got.shape, t.shape);
    assert.deepEqual(got.data, t.data.map((v) => f16ToF32(f32ToF16(v))), name);
  }
});

Deno.test("convert: other architectures are refused with what was found", () => {
  const names = ["kenc.encoder.0.weight", "gnn.layers.0.attn.merge.weight", "final_proj.weight"];
  const sd = dict(names.map((n, i) => [n, tensorOp(String(i), "FloatStorage", 4, [2, 2])]));
  const storages = Object.fromEntries(names.map((_, i) => [i, new Uint8Array(16)]));
  const e = thrown(() =>
    convertCheckpoint(
      torchZip(pickle(dict([["model_state_dict", sd]])), storages),
      "superglue.pth",
      { dtype: "f32" },
    )
  );
  assert.ok(e instanceof ArchitectureError);
  assert.equal(
    e.message,
    "superglue.pth: not a LoFTR state dict (no backbone.conv1 / loftr_coarse tensors; found 3 " +
      "tensors such as kenc.encoder.0.weight, gnn.layers.0.attn.merge.weight, final_proj.weight)",
  );
});

// ---- safetensors ----

Deno.test("safetensors: f16 rounding on hand-picked values", () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [-0, 0x8000],
    [65504, 0x7bff], // largest finite
    [65519, 0x7bff], // just below the tie with 65536
    [65520, 0x7c00], // tie → even → Infinity
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01 → even
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02 → even
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -14 - 2 ** -25, 0x0400], // tie between largest subnormal 0x03ff and 0x0400 → even
    [2 ** -24, 0x0001], // smallest subnormal
    [3 * 2 ** -25, 0x0002], // tie between 0x0001 and 0x0002 → even
    [2 ** -25, 0x0000], // tie between 0 and 0x0001 → even
    [1.5 * 2 ** -25, 0x0001],
    [1e-8, 0x0000],
  ];
  for (const [value, bits] of cases) {
    assert.equal(f32ToF16(value), bits, `${value} → 0x${f32ToF16(value).toString(16)}`);
  }
  assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x3555), 0.333251953125);
});

Deno.test("safetensors: round trip f32 and f16, layout per spec", () => {
  const tensors = new Map<string, HostTensor>([
    ["a.weight", { shape: [2, 3], data: Float32Array.from([1, -2, 0.1, 1e-8, 65519, 3.14159]) }],
    ["b", { shape: [], data: Float32Array.from([7]) }],
    ["empty", { shape: [0, 4], data: new Float32Array(0) }],
  ]);
  const metadata = { format: "pt", note: "é" };
  for (const dtype of ["F32", "F16"] as const) {
    const bytes = writeSafetensors(tensors, dtype, metadata);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + n) % 8, 0, "data section aligned to 8");
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    assert.deepEqual(header.__metadata__, metadata);
    const size = dtype === "F32" ? 4 : 2;
    assert.deepEqual(header["a.weight"], { dtype, shape: [2, 3], data_offsets: [0, 6 * size] });
    assert.deepEqual(header.b, { dtype, shape: [], data_offsets: [6 * size, 7 * size] });
    assert.equal(bytes.length, 8 + n + 7 * size);
    const read = readSafetensors(bytes, "rt.safetensors");
    assert.deepEqual(read.metadata, metadata);
    for (const [name, t] of tensors) {
      const want = dtype === "F32" ? t.data : t.data.map((v) => f16ToF32(f32ToF16(v)));
      assert.deepEqual(read.tensors.get(name), { shape: t.shape, data: want }, name);
    }
  }
  assert.deepEqual([
    ...readSafetensors(writeSafetensors(tensors, "F16"), "x").tensors.get("a.weight")!.data,
  ], [
    1,
    -2,
    0.0999755859375,
    0,
    65504,
    3.140625,
  ]);
});

Deno.test("safetensors: malformed files are refused naming the file", () => {
  const good = writeSafetensors(
    new Map([["x", { shape: [2], data: Float32Array.from([1, 2]) }]]),
    "F32",
  );
  const withHeader = (header: unknown, data = new Uint8Array(8)): Uint8Array => {
    const json = new TextEncoder().encode(
      typeof header === "string" ? header : JSON.stringify(header),
    );
    const out = new Uint8Array(8 + json.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(data, 8 + json.length);
    return out;
  };
  const x = (dtype: string, shape: number[], offsets: number[]) => ({
    dtype,
    shape,
    data_offsets: offsets,
  });
  const cases: [Uint8Array, RegExp][] = [
    [good.subarray(0, 5), /shorter than its 8-byte header length/],
    [good.subarray(0, 20), /header length \d+, file size 20/],
    [withHeader("{not json"), /header is not valid UTF-8 JSON/],
    [withHeader([1, 2]), /header is not a JSON object/],
    [withHeader({ x: x("F32", [2], [0, 8]), y: x("F32", [1], [4, 8]) }), /tensor y: data overlaps/],
    [withHeader({ x: x("F32", [1], [4, 8]) }), /tensor x: hole in the data/],
    [withHeader({ x: x("F32", [1], [0, 4]) }), /4 trailing bytes after the last tensor/],
    [withHeader({ x: x("F32", [3], [0, 8]) }), /tensor x: 8 bytes do not match F32 shape \[3\]/],
    [
      withHeader({ x: x("F32", [4], [0, 16]) }),
      /tensor x: data_offsets \[0, 16\] outside the 8-byte data/,
    ],
    [withHeader({ x: x("I64", [1], [0, 8]) }), /tensor x: unsupported dtype "I64"/],
    [withHeader({ x: x("F32", [-2], [0, 8]) }), /tensor x: invalid shape/],
    [
      withHeader({ __metadata__: { a: 1 }, x: x("F32", [2], [0, 8]) }),
      /__metadata__ value of a is not a string/,
    ],
  ];
  for (const [bytes, message] of cases) {
    const e = thrown(() => readSafetensors(bytes, "bad.safetensors"));
    assert.ok(e instanceof SafetensorsError, String(e));
    assert.ok(e.message.startsWith("bad.safetensors: "), e.message);
    assert.match(e.message, message);
  }
});

// ---- the command line ----

function capture() {
  const out = { logs: [] as string[], errors: [] as string[] };
  return {
    ...out,
    log: (line: string) => out.logs.push(line),
    error: (line: string) => out.errors.push(line),
  };
}

Deno.test("convert CLI: converts with options, documents them, one-line errors", async () => {
  const dir = await Deno.makeTempDir();
  const input = `${dir}/tiny.ckpt`;
  await Deno.writeFile(input, tinyLightningCheckpoint().bytes);

  const ok = capture();
  assert.equal(
    await run(main, [input, "--dtype", "f16", "--heads", "4", "--pos-enc", "corrected"], ok),
    0,
  );
  assert.deepEqual(ok.errors, []);
  const report = ok.logs.join("\n");
  assert.match(report, new RegExp(`wrote ${dir}/tiny\\.safetensors \\(f16\\)`));
  assert.match(report, /ResNetFPN_8_2 \(initial 4, blocks 4\/6\/8/);
  assert.match(report, /coarse +d_model 8, 4 heads, 2 layers/);
  assert.match(report, /fine +yes: window 5, d_model 8, 8 heads/);
  assert.match(report, /tensors +31 \(/);
  const w = await loadWeights(`${dir}/tiny.safetensors`);
  assert.equal(w.config.posEncoding, "corrected");
  assert.equal(w.config.coarse.nHeads, 4);

  const help = capture();
  assert.equal(await run(main, ["--help"], help), 0);
  for (
    const option of [
      "--out",
      "--dtype",
      "--heads",
      "--fine-heads",
      "--ln-eps",
      "--pos-enc",
      "--threshold",
      "--border",
    ]
  ) {
    assert.match(help.logs[0], new RegExp(`${option}[^\\n]*\\n?[^\\n]*default`), option);
  }

  // Exit code 2 for a bad command line, 1 for a failure.
  const errors: [string[], number, string][] = [
    [[], 2, "error: expected exactly one checkpoint file (see --help)"],
    [[input, "--dtype", "f64"], 2, "error: --dtype must be f32 or f16, got 'f64' (see --help)"],
    [
      [input, "--heads", "1.5"],
      2,
      "error: --heads needs a non-negative integer, got '1.5' (see --help)",
    ],
    [[input, "--wat"], 2, "error: Unknown option '--wat' (see --help)"],
    [[`${dir}/missing.pt`], 1, `error: ${dir}/missing.pt: cannot read (No such file or directory)`],
    [
      [input, "--heads", "3"],
      1,
      `error: ${input}: loftr_coarse: d_model 8 is not divisible by 3 heads`,
    ],
  ];
  for (const [args, code, line] of errors) {
    const out = capture();
    assert.equal(await run(main, args, out), code, args.join(" "));
    assert.deepEqual(out.errors, [line]);
  }
  await Deno.remove(dir, { recursive: true });
});

// ---- the real checkpoints in ../shared ----

const shared = (name: string) => `${sharedDir}weights/${name}`;

Deno.test({
  ...needsShared(
    "real checkpoints: outdoor (Lightning) has every expected tensor; values match numpy",
  ),
  fn: async () => {
    const path = shared("loftr_outdoor_random_seed0.ckpt");
    const w = await loadWeights(
      convertCheckpoint(await Deno.readFile(path), path, { dtype: "f32" }),
    );
    const expected = (await Deno.readTextFile(shared("expected_state_dict_keys.txt"))).split("\n")
      .filter((l) => l && !l.startsWith("#")).map((l) => l.split("\t"))
      .filter(([, , dtype]) => dtype === "float32")
      .map(([key, shape]) => [key.replace(/^matcher\./, ""), JSON.parse(shape)]);
    assert.equal(expected.length, 211 - 17);
    assert.deepEqual([...w.tensors].map(([k, t]) => [k, t.shape]), expected);
    const c = w.config;
    assert.equal(c.backbone, "ResNetFPN_8_2");
    assert.deepEqual([c.initialDim, c.blockDims], [128, [128, 196, 256]]);
    assert.deepEqual([c.coarse.dModel, c.coarse.nHeads, c.coarse.layers.length], [256, 8, 8]);
    assert.equal(c.coarse.layerNormEps, 1e-5);
    assert.deepEqual([c.fine?.dModel, c.fine?.nHeads, c.fine?.layers.length, c.fine?.window], [
      128,
      8,
      2,
      5,
    ]);
    assert.deepEqual(c.matching, { temperature: 0.1, threshold: 0.2, borderRemoval: 2 });
    // Values dumped with Python: zipfile + numpy.frombuffer of the raw storages.
    spotCheck(
      w.tensors,
      "backbone.conv1.weight",
      [-0.00970262661576271, -0.013033192604780197, 0.014391985721886158],
      -0.007270120084285736,
      -0.7669722276139055,
    );
    spotCheck(
      w.tensors,
      "loftr_fine.layers.1.mlp.2.weight",
      [0.057525813579559326, 0.10151757299900055, 0.0884990394115448],
      0.08410604298114777,
      0.2846982181072235,
    );
    spotCheck(
      w.tensors,
      "backbone.layer3.1.bn2.running_mean",
      [0.15356193482875824, 0.20229780673980713, -0.004223995842039585],
      -0.11986899375915527,
      1.5309761130192783,
    );
  },
});

function spotCheck(
  tensors: Map<string, HostTensor>,
  name: string,
  first: number[],
  last: number,
  sum: number,
) {
  const d = tensors.get(name)!.data;
  assert.deepEqual([...d.subarray(0, 3)], first, name);
  assert.equal(d[d.length - 1], last, name);
  const total = d.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(total - sum) < 1e-9 * d.length, `${name}: sum ${total} vs ${sum}`);
}

Deno.test({
  ...needsShared("real checkpoints: Kolkir converts byte-identically to the bundled weights"),
  fn: async () => {
    const path = shared("kolkir_coarse_loftr_teacher.pt");
    const converted = convertCheckpoint(await Deno.readFile(path), path, { dtype: "f32" });
    assert.deepEqual(converted, await Deno.readFile(BUNDLED_WEIGHTS));
    const w = await loadWeights(converted);
    spotCheck(
      w.tensors,
      "backbone.conv1.weight",
      [-0.12320420891046524, 0.02828545682132244, 0.09704811125993729],
      -0.08712497353553772,
      -6.642188850612001,
    );
    spotCheck(
      w.tensors,
      "loftr_coarse.layers.3.norm2.bias",
      [-0.08116380125284195, -0.16503235697746277, -0.03516317903995514],
      0.06338666379451752,
      -0.20351627661148086,
    );
    spotCheck(
      w.tensors,
      "backbone.layer4.1.bn2.running_var",
      [5.963863372802734, 10.76201057434082, 3.6958582401275635],
      5.6383376121521,
      304.25267577171326,
    );
  },
});
