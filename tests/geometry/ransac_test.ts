import assert from "node:assert/strict";
import { loadSiftPairs } from "../../testing/ransac_data.ts";
import {
  firstCandidates,
  syntheticMatches,
  syntheticQuality,
} from "../../testing/synthetic_matches.ts";
import { Gpu } from "../../src/gpu/mod.ts";
import { maa, pairAccuracy, poseErrors } from "../../src/geometry/metric.ts";
import { estimateFundamental, screenCandidatesGpu } from "../../src/geometry/ransac_gpu.ts";
import { fixture, needsShared, sharedDir, TUNINGS } from "../support/util.ts";
import { type ScoredModel, screenCandidates } from "../../src/geometry/local_optimization.ts";
import { type PreparedMatches, prepareMatches } from "../../src/geometry/matches.ts";
import { recoverCandidates } from "../../src/geometry/ransac.ts";
import { estimateFundamentalCpu } from "../../src/geometry/ransac_cpu.ts";
import { type RansacOptions, resolveOptions } from "../../src/geometry/ransac_options.ts";
import { scoreModel } from "../../src/geometry/scores.ts";

for (const tuning of TUNINGS) {
  Deno.test(`ransac: GPU estimator recovers F and its inliers with 10–70% outliers, as the CPU reference (${tuning} tuning)`, async () => {
    const gpu = await Gpu.create({ tuning });
    try {
      for (
        const [outliers, solver] of [[0.1, "7pt"], [0.5, "7pt"], [0.7, "7pt"], [
          0.3,
          "8pt",
        ]] as const
      ) {
        const s = syntheticMatches(300, outliers, 0.5, 11);
        const opts: RansacOptions = { threshold: 1.5, seed: 1, solver };
        const r = await estimateFundamental(gpu, s.points0, s.points1, opts);
        assert.ok(r.F, r.message);
        const q = syntheticQuality(r.F!, r.inliers, s);
        // As in fundamental_test.ts: σ = 0.5 px, n ≥ 90 → ~σ·√(7/n) ≤ 0.14 px expected; 3σ threshold.
        assert.ok(q.rms < 0.25, `${outliers}: Sampson RMS ${q.rms}`);
        assert.ok(q.truePositives >= 0.97 * q.inliers, `${q.truePositives} of ${q.inliers}`);
        assert.ok(q.falsePositives <= Math.max(1, 0.02 * q.outliers));
        // The float64 reference draws the same samples; f32 scoring can reorder near-ties only,
        // which local optimisation erases: masks agree on ≥ 99% of the matches.
        const c = estimateFundamentalCpu(s.points0, s.points1, opts);
        let agree = 0;
        r.inliers.forEach((v, i) => agree += v === c.inliers[i] ? 1 : 0);
        assert.ok(agree >= 0.99 * 300, `${agree} of 300 mask entries agree with the CPU reference`);
        assert.equal(r.hypotheses, c.hypotheses);
        assert.equal(r.stop, c.stop);
      }
    } finally {
      gpu.destroy();
    }
  });
}

Deno.test("ransac: same seed and input give the same result; bad input gives no F", async () => {
  const gpu = await Gpu.create();
  try {
    const s = syntheticMatches(200, 0.4, 0.5, 2);
    const a = await estimateFundamental(gpu, s.points0, s.points1, { threshold: 1.5, seed: 7 });
    const b = await estimateFundamental(gpu, s.points0, s.points1, { threshold: 1.5, seed: 7 });
    assert.deepEqual(a, b);
    const p0 = Array.from(s.points0), p1 = Array.from(s.points1);
    const few = await estimateFundamental(gpu, p0.slice(0, 10), p1.slice(0, 10));
    assert.equal(few.F, null);
    assert.equal(few.stop, "too-few-matches");
    p0[3] = NaN;
    assert.equal((await estimateFundamental(gpu, p0, p1)).stop, "non-finite-coordinates");
    await assert.rejects(() => estimateFundamental(gpu, p0, p1.slice(2)), RangeError);
  } finally {
    gpu.destroy();
  }
});

for (const tuning of TUNINGS) {
  Deno.test(`ransac: GPU estimator on the SIFT fixtures matches the ground-truth pose (${tuning} tuning)`, async () => {
    const gpu = await Gpu.create({ tuning });
    try {
      for (
        const p of (await loadSiftPairs(fixture("relpose"))).filter((p) => p.points0.length > 0)
      ) {
        const r = await estimateFundamental(gpu, p.points0, p.points1, { threshold: 0.25 });
        // OpenCV's USAC_MAGSAC is within 0.16° / 0.06 m on these pairs: all 10 levels.
        assert.equal(pairAccuracy(poseErrors(r.F, p)), 1, p.id);
      }
    } finally {
      gpu.destroy();
    }
  });
}

for (const tuning of TUNINGS) {
  Deno.test({
    ...needsShared(
      `ransac: GPU estimator's mAA on relpose_dev ≥ OpenCV USAC_MAGSAC at 0.25 px (${tuning} tuning)`,
    ),
    fn: async () => {
      const gpu = await Gpu.create({ tuning });
      try {
        const rows = [];
        for (const p of await loadSiftPairs(`${sharedDir}/data/relpose_dev`)) {
          const r = await estimateFundamental(gpu, p.points0, p.points1, { threshold: 0.25 });
          rows.push({ scene: p.scene, ...poseErrors(r.F, p) });
        }
        const m = maa(rows);
        // BASELINES.md, SIFT + USAC_MAGSAC (0.25 px, 0.99999, 10000): fountain 0.9708, herzjesu 0.7367.
        assert.ok(m.perScene.fountain >= 0.9708, `fountain ${m.perScene.fountain}`);
        assert.ok(m.perScene.herzjesu >= 0.7366, `herzjesu ${m.perScene.herzjesu}`);
      } finally {
        gpu.destroy();
      }
    },
  });
}

for (const tuning of TUNINGS) {
  Deno.test(`ransac: GPU screening of the candidates agrees with the float64 local optimisation (${tuning} tuning)`, async () => {
    const gpu = await Gpu.create({ tuning });
    try {
      for (const [n, score] of [[500, "magsac"], [2000, "magsac"], [2000, "msac"]] as const) {
        // bench/ransac.ts's candidates: the best models of the first 400 hypotheses.
        const s = syntheticMatches(n, 0.5, 0.5, n);
        const o = resolveOptions({ threshold: 1.5, score });
        const p = prepareMatches(s.points0, s.points1) as PreparedMatches;
        const pool = firstCandidates(p, o, 400);
        const models = recoverCandidates(pool, p, o);
        const cpu = screenCandidates(models, p, o);
        const pts = gpu.tensor([p.n, 4], Float32Array.from(p.data));
        const screened = await screenCandidatesGpu(gpu, pts, p, o, models);
        gpu.release(pts);
        const best = (r: ScoredModel[]) => r.reduce((b, c, k) => c.score > r[b].score ? k : b, 0);
        const what = `${n} matches, ${score}`;
        screened.forEach((g, k) => {
          // The kernel's own score is the f32 sum of its F's qualities: float64 rescoring of
          // that F differs by f32 rounding of ≤ 10⁴ terms ≤ 1 (measured ≤ 4e-7 relative).
          const rescored = scoreModel(g.F, p, o).score;
          assert.ok(Math.abs(g.score - rescored) <= 1e-5 * rescored, `${what} #${k}: ${g.score}`);
          // Each step is the float64 one up to f32 rounding (measured ≤ 3.2e-5 relative for
          // MAGSAC++); a convergence decision can fall one step apart where a step gains about
          // the 1e-6 of LO_CONVERGED, or where MSAC's score is flat (measured ≤ 1.04e-3).
          assert.ok(
            Math.abs(g.score - cpu[k].score) <= 2e-3 * cpu[k].score,
            `${what} #${k}: ${g.score} vs float64 ${cpu[k].score}`,
          );
        });
        // The same candidate wins, or one whose float64 screening ties with the winner's: two
        // candidates can reach one model (measured: MSAC, 888.4508 for #1 and #2).
        const [g, c] = [best(screened), best(cpu)];
        assert.ok(
          g === c || cpu[c].score - cpu[g].score <= 1e-5 * cpu[c].score,
          `${what}: GPU picks #${g} (${cpu[g].score}), float64 #${c} (${cpu[c].score})`,
        );
      }
    } finally {
      gpu.destroy();
    }
  });
}
