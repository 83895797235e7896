// The fine stage (LoFTR §5): parity with ../shared/reference/full_random (full
// outdoor architecture, seeded random weights, 320×240), each stage fed with the
// reference's own inputs and coarse match ids. Its kernels alone (window
// extraction, expectation) are kernel cases (tests/kernels/cases.ts).
import assert from "node:assert/strict";
import { uploadMatches } from "../../src/model/coarse_matching.ts";
import { FineRefinement } from "../../src/model/fine_refinement.ts";
import { Gpu, type Tensor } from "../../src/gpu/mod.ts";
import { Transformer } from "../../src/model/transformer.ts";
import { grayFromArray, Matcher } from "../../mod.ts";
import {
  fullRandomWeights,
  needsShared,
  readNpy,
  relL2,
  sharedDir,
  TUNINGS,
} from "../support/util.ts";

Deno.test({
  ...needsShared(
    "full_random fine stage: fine_pre, fine layers, heatmap, expectation, refined keypoints",
  ),
  fn: async () => {
    const R = `${sharedDir}reference/full_random/`;
    const ref = (name: string) => readNpy(`${R}${name}.npy`);
    const weights = await fullRandomWeights();
    const gpu = await Gpu.create();
    const up = (name: string): Tensor => {
      const a = ref(name);
      return gpu.tensor(a.shape, a.data as Float32Array);
    };
    // Window tensors [M, 25, C] as the token rows [M·25, C] the transformer takes.
    const rows = (name: string): Tensor => {
      const a = ref(name);
      return gpu.tensor([a.shape[0] * a.shape[1], a.shape[2]], a.data as Float32Array);
    };
    try {
      const i = ref("coarse_i_ids").data, j = ref("coarse_j_ids").data;
      assert.equal(i.length, 155);
      const matches = uploadMatches(gpu, {
        i: Uint32Array.from(i),
        j: Uint32Array.from(j),
        confidence: new Float32Array(i.length),
      });
      const fine = new FineRefinement(gpu, weights.tensors, weights.config);
      const out = await fine.run(
        matches,
        { coarse: up("coarse_layer7_out0"), fine: up("backbone_f0"), coarseWidth: 40 },
        { coarse: up("coarse_layer7_out1"), fine: up("backbone_f1"), coarseWidth: 40 },
        { keepPre: true },
      );
      const check = async (t: Tensor, name: string, tol: number) => {
        const err = relL2(await gpu.read(t), ref(name).data);
        assert.ok(err <= tol, `${name}: rel L2 ${err} > ${tol}`);
      };
      // Tolerances from ../shared/reference/README.md (float32 floors 1.6e-6 and 1.6e-4).
      await check(out.pre![0], "fine_pre0", 1e-5);
      await check(out.pre![1], "fine_pre1", 1e-5);
      await check(out.heatmap, "fine_heatmap", 2e-3);

      // Each fine layer on its reference input (self, then cross with the updated image 0).
      const tr = new Transformer(gpu, weights.tensors, "loftr_fine", weights.config.fine!);
      const l0 = [
        await tr.layer(0, rows("fine_pre0"), rows("fine_pre0"), 155),
        await tr.layer(0, rows("fine_pre1"), rows("fine_pre1"), 155),
      ];
      await check(l0[0], "fine_layer0_out0", 1e-5);
      await check(l0[1], "fine_layer0_out1", 1e-5);
      const l1a = await tr.layer(1, rows("fine_layer0_out0"), rows("fine_layer0_out1"), 155);
      const l1b = await tr.layer(1, rows("fine_layer0_out1"), rows("fine_layer1_out0"), 155);
      await check(l1a, "fine_layer1_out0", 1e-5);
      await check(l1b, "fine_layer1_out1", 1e-5);

      // Expectation (max abs ≤ 2e-3, floors 2.7e-4 / 3.8e-4) and the refined keypoints:
      // mkpts1_f = coarse_mkpts1 + e · (W // 2) · fine stride, within 0.01 px.
      const refined = await gpu.read(out.refined);
      const expec = ref("expec_f").data,
        mk1c = ref("coarse_mkpts1").data,
        mk1f = ref("mkpts1_f").data;
      let maxXy = 0, maxStd = 0, maxPx = 0;
      for (let m = 0; m < 155; m++) {
        for (const a of [0, 1]) {
          maxXy = Math.max(maxXy, Math.abs(refined[3 * m + a] - expec[3 * m + a]));
          maxPx = Math.max(
            maxPx,
            Math.abs(mk1c[2 * m + a] + refined[3 * m + a] * 2 * 2 - mk1f[2 * m + a]),
          );
        }
        maxStd = Math.max(maxStd, Math.abs(refined[3 * m + 2] - expec[3 * m + 2]));
      }
      assert.ok(maxXy <= 2e-3, `expec_f xy max abs ${maxXy}`);
      assert.ok(maxStd <= 2e-3, `expec_f std max abs ${maxStd}`);
      assert.ok(maxPx <= 0.01, `mkpts1_f max abs ${maxPx} px`);

      // Batches of 64 slots over a list of capacity 600 (155 matches): three
      // live batches, the last partial, then seven past the count, sized on the
      // GPU to no work. Each match is the same arithmetic: identical results,
      // zeros past the count.
      const padded = uploadMatches(gpu, {
        i: Uint32Array.from(i),
        j: Uint32Array.from(j),
        confidence: new Float32Array(i.length),
      }, 600);
      const batched = await fine.run(
        padded,
        { coarse: up("coarse_layer7_out0"), fine: up("backbone_f0"), coarseWidth: 40 },
        { coarse: up("coarse_layer7_out1"), fine: up("backbone_f1"), coarseWidth: 40 },
        { batch: 64 },
      );
      const again = await gpu.read(batched.refined);
      assert.deepEqual(again.subarray(0, 3 * 155), refined);
      assert.ok(again.subarray(3 * 155).every((v) => v === 0), "refined past the count");
      const heat = await gpu.read(batched.heatmap);
      assert.deepEqual(heat.subarray(0, 25 * 155), await gpu.read(out.heatmap));
      assert.ok(heat.subarray(25 * 155).every((v) => v === 0), "heatmap past the count");
    } finally {
      gpu.destroy();
    }
  },
});

for (const tuning of TUNINGS) {
  Deno.test({
    ...needsShared(
      `full_random end to end through Matcher (${tuning} tuning): 155 matches, refined keypoints ≤ 0.01 px`,
    ),
    sanitizeResources: false,
    fn: async () => {
      const R = `${sharedDir}reference/full_random/`;
      const ref = (name: string) => readNpy(`${R}${name}.npy`);
      const weights = await fullRandomWeights();
      const gpu = await Gpu.create({ tuning });
      const matcher = await Matcher.create({ weights, gpu });
      try {
        const image = (name: string) =>
          grayFromArray(ref(name).data as Float32Array, 320, 240, name);
        // The reference's extraction for these random weights: threshold 0, border removal 2.
        const m = await matcher.match(image("image0"), image("image1"), {
          resize: { width: 320, height: 240 },
          threshold: 0,
        });
        const mk0 = ref("mkpts0_f").data, mk1 = ref("mkpts1_f").data;
        assert.equal(m.count, 155);
        let maxPx = 0;
        for (let k = 0; k < 2 * m.count; k++) {
          assert.equal(m.keypoints0[k], mk0[k]); // coarse corners: exact
          maxPx = Math.max(maxPx, Math.abs(m.keypoints1[k] - mk1[k]));
        }
        // README tolerance for mkpts1_f (float32 floor 0.0011 px), here end to end.
        assert.ok(maxPx <= 0.01, `mkpts1_f max abs ${maxPx} px`);
        assert.ok(m.std !== null && m.std.every((s) => s > 0 && s < 3));
      } finally {
        gpu.destroy();
      }
    },
  });
}
