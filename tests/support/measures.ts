/**
 * The platform-neutral part of the test suite's helpers (no Deno API, no
 * node: module): the kernel tunings every kernel with two shapes is tested
 * with, and the measures of agreement between a result and its reference.
 * The kernel cases (tests/kernels/cases.ts) use them in a browser too.
 * @module
 */
import type { KernelTuning } from "../../src/gpu/mod.ts";

/**
 * Both kernel tunings (src/gpu/gpu.ts `KernelTuning`): the tests of every kernel
 * with two entry points run with each, on a `Gpu.create({ tuning })`.
 */
export const TUNINGS: readonly KernelTuning[] = ["cpu", "gpu"];

function sameLength(a: ArrayLike<number>, b: ArrayLike<number>) {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
}

/** Relative L2 error ‖a − b‖₂ / ‖b‖₂ (the measure of ../shared/reference/README.md). */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  sameLength(a, b);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** Largest absolute difference max |a − b| (NaN when either holds a NaN). */
export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  sameLength(a, b);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN sticks
  }
  return m;
}

/**
 * Largest relative difference max |a − b| / |b| (equal elements differ by 0,
 * zeros included; NaN when either holds a NaN).
 */
export function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  sameLength(a, b);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] === b[i] ? 0 : Math.abs(a[i] - b[i]) / Math.abs(b[i]);
    if (!(d <= m)) m = d;
  }
  return m;
}

/**
 * How two arrays differ bit for bit (signed zeros included, NaN equal to
 * NaN): `null` when they are identical, else the number of differing
 * elements and the first of them.
 */
export function bitDifference(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
): { count: number; first: number } | null {
  if (a.length !== b.length) return { count: Math.abs(a.length - b.length), first: -1 };
  let count = 0, first = -1;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) {
      if (count++ === 0) first = i;
    }
  }
  return count ? { count, first } : null;
}
