import assert from "node:assert/strict";
import { Gpu } from "../../src/gpu/mod.ts";
import { linear } from "../../src/kernels/linear.ts";
import { relL2, seededRandom, TUNINGS } from "../support/util.ts";

// Shapes: inside one tile of either tuning; then past a 64 × 64 tile with K
// not a multiple of the 16-feature slice and a concatenation split inside a vec4.
const SHAPES = [[37, 20, 13, 21], [150, 40, 26, 70]];

for (const tuning of TUNINGS) {
  for (const [M, K1, K2, N] of SHAPES) {
    Deno.test(`linear (${tuning} tuning, [${M}, ${K1}+${K2}] → ${N}): concat input, bias, activations match a float64 CPU product`, async () => {
      const gpu = await Gpu.create({ tuning });
      try {
        const rand = seededRandom(1);
        const K = K1 + K2;
        const xs = Float32Array.from({ length: M * K1 }, rand);
        const x2s = Float32Array.from({ length: M * K2 }, rand);
        const ws = Float32Array.from({ length: N * K }, rand);
        const bs = Float32Array.from({ length: N }, rand);
        const x = gpu.tensor([M, K1], xs), x2 = gpu.tensor([M, K2], x2s);
        const weights = { weight: gpu.tensor([N, K], ws), bias: gpu.tensor([N], bs) };
        for (const activation of ["none", "relu", "elu1"] as const) {
          const y = await gpu.read(
            await linear(gpu, x, weights, { concat: x2, activation, scale: 0.5 }),
          );
          const want = new Float64Array(M * N);
          for (let m = 0; m < M; m++) {
            for (let n = 0; n < N; n++) {
              let s = bs[n];
              for (let k = 0; k < K; k++) {
                s += (k < K1 ? xs[m * K1 + k] : x2s[m * K2 + k - K1]) * ws[n * K + k];
              }
              const a = activation === "relu"
                ? Math.max(s, 0)
                : activation === "elu1"
                ? (s > 0 ? s + 1 : Math.exp(s))
                : s;
              want[m * N + n] = a * 0.5;
            }
          }
          // K-term float32 dot products (K ≤ 66): relative error of a sum ~ K · 6e-8 ≈ 4e-6 at
          // worst, ~√K · 6e-8 ≈ 5e-7 typically; rel L2 averages the typical case.
          assert.ok(relL2(y, want) < 1e-6, `${activation}: rel L2 ${relL2(y, want)}`);
        }
      } finally {
        gpu.destroy();
      }
    });
  }
}
