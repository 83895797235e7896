// Parity of the coarse stages (positional encoding, coarse transformer, dual-softmax
// matching) with the reference implementation's float32 dumps
// (../shared/reference/README.md). Fixture tests use the committed copies in
// tests/fixtures/tiny_real and the bundled weights; the deeper checks read ../shared.
import assert from "node:assert/strict";
import type { PosEncoding } from "../../src/model/architecture.ts";
import { coarseMatching, readMatches } from "../../src/model/coarse_matching.ts";
import { Gpu, type Tensor } from "../../src/gpu/mod.ts";
import { positionEncoding, positionEncodingAxes } from "../../src/model/position_encoding.ts";
import { Transformer } from "../../src/model/transformer.ts";
import { BUNDLED_WEIGHTS, loadWeights } from "../../src/io/weights.ts";
import {
  fixture,
  fullRandomWeights,
  needsShared,
  readNpy,
  relL2,
  sharedDir,
  TUNINGS,
} from "../support/util.ts";
import type { ModelWeights } from "../../src/model/parameters.ts";

const tinyFixture = (name: string) => readNpy(fixture(`tiny_real/${name}.npy`));
const reference = (dump: string, name: string) =>
  readNpy(`${sharedDir}reference/${dump}/${name}.npy`);

function upload(gpu: Gpu, a: { shape: number[]; data: Float32Array | Int32Array }): Tensor {
  return gpu.tensor(a.shape, a.data as Float32Array);
}

/** Runs `fn` on a device of each kernel tuning (src/gpu/gpu.ts `KernelTuning`), in turn. */
async function withGpu(fn: (gpu: Gpu) => Promise<void>): Promise<void> {
  for (const tuning of TUNINGS) {
    const gpu = await Gpu.create({ tuning });
    try {
      await fn(gpu);
    } catch (e) {
      throw new Error(`with the ${tuning} tuning: ${(e as Error).message}`, { cause: e });
    } finally {
      gpu.destroy();
    }
  }
}

/** Asserts the matches equal the reference's (i, j) lists exactly and mconf within `tol`. */
async function assertSameMatches(
  gpu: Gpu,
  f0: Tensor,
  f1: Tensor,
  grid: { width: number; height: number },
  options: { threshold: number; borderRemoval: number; maxTileBytes?: number },
  want: { i: ArrayLike<number>; j: ArrayLike<number>; mconf: ArrayLike<number> },
  tol: number,
): Promise<void> {
  const { matches } = await coarseMatching(gpu, f0, f1, grid, grid, {
    ...options,
    temperature: 0.1,
  });
  const got = await readMatches(gpu, matches);
  gpu.release(matches.buffer);
  assert.deepEqual([...got.i], Array.from(want.i));
  assert.deepEqual([...got.j], Array.from(want.j));
  const err = relL2(got.confidence, want.mconf);
  assert.ok(err <= tol, `mconf rel L2 ${err} > ${tol}`);
}

/** The full table `[C, H, W]` spelled out from the axis tables (channel 4k + j). */
function positionEncodingTable(C: number, H: number, W: number, variant: PosEncoding) {
  const axes = positionEncodingAxes(C, H, W, variant);
  const table = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) {
    const row = 2 * Math.floor(c / 4) + (c % 2);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        table[(c * H + y) * W + x] = c % 4 < 2
          ? axes[row * W + x]
          : axes[(C / 2) * W + row * H + y];
      }
    }
  }
  return table;
}

Deno.test("position encoding: legacy and corrected frequencies, any size", () => {
  // Hand values: channel group k uses d_k; x = column + 1, y = row + 1.
  const legacy = positionEncodingTable(8, 2, 3, "legacy"); // groups k = 0, 1
  const hw = 6;
  const at = (c: number, y: number, x: number) => legacy[c * hw + y * 3 + x];
  assert.equal(at(0, 0, 2), Math.fround(Math.sin(3)));
  assert.equal(at(3, 1, 0), Math.fround(Math.cos(2)));
  assert.equal(at(4, 0, 1), Math.fround(Math.sin(2 * Math.fround(Math.exp(-2)))));
  const corrected = positionEncodingTable(8, 2, 3, "corrected");
  const d1 = Math.fround(Math.exp((-2 * Math.log(10000)) / 4));
  assert.equal(corrected[6 * hw + 1 * 3 + 2], Math.fround(Math.sin(2 * d1)));
  // No fixed table: a 300×200 coarse grid (4800×3200 px at stride 16) takes
  // C/2 · (W + H) values.
  assert.equal(positionEncodingAxes(32, 200, 300, "legacy").length, 16 * (300 + 200));
});

Deno.test("tiny_real: coarse map + positional encoding → tokens_pe (rel L2 ≤ 1e-5)", async () => {
  await withGpu(async (gpu) => {
    const table = positionEncodingTable(32, 30, 40, "legacy");
    const coarse = upload(gpu, tinyFixture("backbone_c0"));
    const tokens = await positionEncoding(gpu, coarse, "legacy", new Map());
    // The reference adds a float32 table (3e-8 from float64, README): far below 1e-5.
    const err = relL2(await gpu.read(tokens), tinyFixture("tokens_pe0").data);
    assert.ok(err <= 1e-5, `tokens_pe0: rel L2 ${err}`);
    if (sharedDir) {
      const pe = reference("tiny_real", "pos_encoding");
      assert.ok(relL2(table, pe.data) < 1e-6, `table vs reference: ${relL2(table, pe.data)}`);
    }
  });
});

Deno.test("tiny_real: coarse transformer (4 layers, real weights) → layer3_out (rel L2 ≤ 1e-5)", async () => {
  const weights = await loadWeights(BUNDLED_WEIGHTS);
  await withGpu(async (gpu) => {
    const tr = new Transformer(gpu, weights.tensors, "loftr_coarse", weights.config.coarse);
    const [f0, f1] = await tr.run(
      upload(gpu, tinyFixture("tokens_pe0")),
      upload(gpu, tinyFixture("tokens_pe1")),
    );
    for (const [t, name] of [[f0, "layer3_out0"], [f1, "layer3_out1"]] as const) {
      const err = relL2(await gpu.read(t), tinyFixture(name).data);
      assert.ok(err <= 1e-5, `${name}: rel L2 ${err}`);
    }
  });
});

Deno.test("tiny_real: dual-softmax matching gives the reference's 717 matches, whole and in tiles", async () => {
  await withGpu(async (gpu) => {
    const f0 = upload(gpu, tinyFixture("layer3_out0"));
    const f1 = upload(gpu, tinyFixture("layer3_out1"));
    const want = {
      i: tinyFixture("i_ids").data,
      j: tinyFixture("j_ids").data,
      mconf: tinyFixture("mconf").data,
    };
    assert.equal(want.i.length, 717);
    const grid = { width: 40, height: 30 };
    // Threshold 0.01 and no border removal: the reference's extraction (README).
    // Tile sizes: whole matrix, 100 rows, and 7 rows (172 tiles, last one partial):
    // bounded memory must not change a single match.
    for (const rows of [1200, 100, 7]) {
      await assertSameMatches(
        gpu,
        f0,
        f1,
        grid,
        {
          threshold: 0.01,
          borderRemoval: 0,
          maxTileBytes: rows * 1200 * 4,
        },
        want,
        1e-4,
      );
    }
  });
});

Deno.test({
  ...needsShared(
    "tiny_real: each coarse layer from the reference input, and the confidence matrix",
  ),
  fn: async () => {
    const weights = await loadWeights(BUNDLED_WEIGHTS);
    await withGpu(async (gpu) => {
      await checkLayers(gpu, weights, "tiny_real", "layer", 4, 1e-5);
      await checkConfidence(gpu, "tiny_real", "layer3_out", 1e-4);
    });
  },
});

Deno.test({
  ...needsShared(
    "full_random: 8 coarse layers (d_model 256, 8 heads), confidence matrix, 155 matches",
  ),
  fn: async () => {
    const weights = await fullRandomWeights();
    await withGpu(async (gpu) => {
      await checkLayers(gpu, weights, "full_random", "coarse_layer", 8, 1e-5);
      await checkConfidence(gpu, "full_random", "coarse_layer7_out", 1e-3);
      const f0 = upload(gpu, reference("full_random", "coarse_layer7_out0"));
      const f1 = upload(gpu, reference("full_random", "coarse_layer7_out1"));
      // Threshold 0 and border removal 2: how the reference extracted these matches.
      await assertSameMatches(gpu, f0, f1, { width: 40, height: 30 }, {
        threshold: 0,
        borderRemoval: 2,
      }, {
        i: reference("full_random", "coarse_i_ids").data,
        j: reference("full_random", "coarse_j_ids").data,
        mconf: reference("full_random", "coarse_mconf").data,
      }, 1e-3);
    });
  },
});

/** Runs each layer n on the reference input of that layer (so errors do not accumulate). */
async function checkLayers(
  gpu: Gpu,
  weights: ModelWeights,
  dump: string,
  prefix: string,
  count: number,
  tol: number,
): Promise<void> {
  const tr = new Transformer(gpu, weights.tensors, "loftr_coarse", weights.config.coarse);
  assert.equal(weights.config.coarse.layers.length, count);
  for (let n = 0; n < count; n++) {
    const input = (k: number) =>
      upload(gpu, reference(dump, n === 0 ? `tokens_pe${k}` : `${prefix}${n - 1}_out${k}`));
    const [x0, x1] = [input(0), input(1)];
    const cross = weights.config.coarse.layers[n] === "cross";
    const want0 = reference(dump, `${prefix}${n}_out0`);
    const out0 = await tr.layer(n, x0, cross ? x1 : x0);
    // Cross layers update image 1 from the already updated image 0 (reference output).
    const ref0 = upload(gpu, want0);
    const out1 = await tr.layer(n, x1, cross ? ref0 : x1);
    for (
      const [t, k, want] of [[out0, 0, want0], [
        out1,
        1,
        reference(dump, `${prefix}${n}_out1`),
      ]] as const
    ) {
      const err = relL2(await gpu.read(t), want.data);
      assert.ok(err <= tol, `${dump} layer ${n} out${k}: rel L2 ${err} > ${tol}`);
    }
    gpu.release(x0, x1, out0, out1, ref0);
  }
}

async function checkConfidence(
  gpu: Gpu,
  dump: string,
  features: string,
  tol: number,
): Promise<void> {
  const f0 = upload(gpu, reference(dump, `${features}0`));
  const f1 = upload(gpu, reference(dump, `${features}1`));
  const grid = { width: 40, height: 30 };
  const { confidence } = await coarseMatching(gpu, f0, f1, grid, grid, {
    threshold: 0,
    borderRemoval: 0,
    temperature: 0.1,
    keepConfidence: true,
  });
  const err = relL2(await gpu.read(confidence!), reference(dump, "conf_matrix").data);
  assert.ok(err <= tol, `${dump} conf_matrix: rel L2 ${err} > ${tol}`);
}
