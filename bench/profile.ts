/**
 * Per-kernel figures of a piece of work: every dispatch recorded with its
 * kernel, shape (bench/describe.ts) and stage, timed by the GPU layer's
 * profiler, and aggregated per kernel and shape (medians over repetitions)
 * and per kernel family.
 * @module
 */
import type { Dispatch, Gpu, KernelTiming, Tensor } from "../src/gpu/mod.ts";
import { describeDispatch, kernelFamily } from "./describe.ts";

/** Median of a list (the lower middle for an even count). */
export const median = (v: number[]): number =>
  [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
/** Sum of a list. */
export const sum = (v: number[]): number => v.reduce((a, b) => a + b, 0);

/** One dispatch as the bench records it: kernel, a readable shape, stage. */
export interface DispatchRecord {
  kernel: string;
  shape: string;
  stage: string;
  /** For a dispatch sized on the GPU for live slots (the fine stage's batches): its slots. */
  live?: { first: number; slots: number };
}

/** A kernel and shape within a stage, aggregated over one pair (medians over reps). */
export interface KernelRow {
  stage: string;
  kernel: string;
  shape: string;
  calls: number;
  /** GPU milliseconds of all calls per pair. */
  ms: number | null;
  gflop: number | null;
  gflops: number | null;
  gbs: number | null;
}

/** Totals of a kernel family (conv2d by kernel size), share of GPU time and FLOPs. */
export interface KernelFamilyRow {
  family: string;
  ms: number | null;
  msShare: number | null;
  gflop: number;
  flopShare: number;
  gflops: number | null;
}

/**
 * Records every dispatch of `gpu` (kernel, shape, stage) while it is on, in
 * dispatch order, the order of the profiler's timings. `mark(stage)` labels
 * the dispatches since the previous mark.
 */
function recorder(gpu: Gpu) {
  const records: DispatchRecord[] = [];
  let unlabelled = 0;
  const dispatch = gpu.dispatch;
  gpu.dispatch = (d: Dispatch) => {
    dispatch.call(gpu, d);
    // The profiler skips empty dispatches too.
    if (d.workgroups.every((n) => n !== 0)) {
      const live = d.live && { first: d.live.first, slots: d.live.slots };
      records.push({ kernel: d.kernel.label, shape: describeDispatch(d), stage: "", live });
    }
  };
  let reads = 0;
  const read = gpu.read;
  gpu.read = ((t: Tensor, count?: number) => {
    reads++;
    return read.call(gpu, t, count);
  }) as typeof gpu.read;
  return {
    records,
    reads: () => reads,
    mark(stage: string) {
      for (; unlabelled < records.length; unlabelled++) records[unlabelled].stage = stage;
    },
    stop() {
      Reflect.deleteProperty(gpu, "dispatch");
      Reflect.deleteProperty(gpu, "read");
    },
  };
}

/**
 * Profiles `fn` and returns each dispatch's record with its timing. `fn`
 * returns the match count when it ran the fine stage: the FLOPs and bytes its
 * modules count for a whole batch are then scaled to the batch's live slots.
 */
export async function profiled(
  gpu: Gpu,
  fn: (mark: (stage: string) => void) => Promise<number | void>,
): Promise<{ rows: (DispatchRecord & KernelTiming)[]; reads: number }> {
  const rec = recorder(gpu);
  gpu.startProfile();
  let timings: KernelTiming[];
  let count: number | void;
  try {
    count = await fn(rec.mark);
  } finally {
    timings = await gpu.endProfile();
    rec.stop();
  }
  if (timings.length !== rec.records.length) {
    throw new Error(
      `profiler saw ${timings.length} dispatches, the recorder ${rec.records.length}`,
    );
  }
  const rows = timings.map((t, k) => {
    const r = { ...rec.records[k], ...t };
    if (r.live && count !== undefined) {
      const share = Math.min(Math.max(count - r.live.first, 0), r.live.slots) / r.live.slots;
      if (r.flops !== undefined) r.flops *= share;
      if (r.bytes !== undefined) r.bytes *= share;
    }
    return r;
  });
  return { rows, reads: rec.reads() };
}

/** Per kernel, shape and stage: calls, and median GPU ms, FLOPs and bytes over reps. */
export function aggregate(reps: (DispatchRecord & KernelTiming)[][]): KernelRow[] {
  const keyOf = (r: DispatchRecord) => `${r.stage}\u0000${r.kernel}\u0000${r.shape}`;
  const perRep = reps.map((rows) => {
    const m = new Map<string, { calls: number; ms: number; flops: number; bytes: number }>();
    for (const r of rows) {
      const e = m.get(keyOf(r)) ?? { calls: 0, ms: 0, flops: 0, bytes: 0 };
      e.calls++;
      e.ms += r.ms;
      e.flops += r.flops ?? 0;
      e.bytes += r.bytes ?? 0;
      m.set(keyOf(r), e);
    }
    return m;
  });
  return [...perRep[0]].map(([key, first]) => {
    const [stage, kernel, shape] = key.split("\u0000");
    const ms = median(perRep.map((m) => m.get(key)?.ms ?? NaN));
    const timed = Number.isFinite(ms);
    return {
      stage,
      kernel,
      shape,
      calls: first.calls,
      ms: timed ? ms : null,
      gflop: first.flops ? first.flops / 1e9 : null,
      gflops: timed && first.flops ? first.flops / ms / 1e6 : null,
      gbs: timed && first.bytes ? first.bytes / ms / 1e6 : null,
    };
  }).sort((a, b) => (b.ms ?? 0) - (a.ms ?? 0));
}

export function families(rows: KernelRow[]): KernelFamilyRow[] {
  const m = new Map<string, { ms: number; flops: number }>();
  for (const r of rows) {
    const e = m.get(kernelFamily(r)) ?? { ms: 0, flops: 0 };
    e.ms += r.ms ?? NaN;
    e.flops += (r.gflop ?? 0) * 1e9;
    m.set(kernelFamily(r), e);
  }
  const totalMs = sum([...m.values()].map((e) => e.ms));
  const totalFlops = sum([...m.values()].map((e) => e.flops));
  return [...m].map(([f, e]) => ({
    family: f,
    ms: Number.isFinite(e.ms) ? e.ms : null,
    msShare: Number.isFinite(e.ms) ? e.ms / totalMs : null,
    gflop: e.flops / 1e9,
    flopShare: totalFlops ? e.flops / totalFlops : 0,
    gflops: Number.isFinite(e.ms) && e.flops ? e.flops / e.ms / 1e6 : null,
  })).sort((a, b) => (b.ms ?? b.gflop) - (a.ms ?? a.gflop));
}
