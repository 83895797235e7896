/**
 * Minimal samples from a counter-based PRNG (PCG hash) keyed by seed and
 * hypothesis index, the same draw in float64 here and in WGSL
 * (kernels/ransac.wgsl), so both estimators draw the same samples.
 * @module
 */

/** PCG hash of a u32 (Jarzynski & Olano 2020), the generator of both estimators. */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/**
 * The minimal sample of hypothesis `h`: `m` distinct indices in [0, n), drawn
 * as `pcg(key + c) mod n` for c = 0, 1, … with `key = pcg(seed ^ pcg(h))`,
 * skipping repeats. Writes them to `out`.
 */
export function drawSample(seed: number, h: number, n: number, m: number, out: Uint32Array): void {
  const key = pcgHash((seed ^ pcgHash(h)) >>> 0);
  let c = 0;
  for (let j = 0; j < m; j++) {
    let idx: number;
    let repeat: boolean;
    do {
      idx = pcgHash((key + c++) >>> 0) % n;
      repeat = false;
      for (let k = 0; k < j; k++) repeat ||= out[k] === idx;
    } while (repeat);
    out[j] = idx;
  }
}
