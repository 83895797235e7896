/**
 * Sharding of a pair list for array jobs (Slurm job arrays, Kubernetes
 * Indexed Jobs, AWS Batch array jobs, Cloud Run jobs): the same command runs
 * N times, each run with an index I, and each run matches only its share of
 * the pairs.
 *
 * Shards are numbered from 0, as every array engine numbers its tasks: I is
 * 0…N−1 (`sbatch --array=0-(N-1)`, `JOB_COMPLETION_INDEX` 0…completions−1,
 * `AWS_BATCH_JOB_ARRAY_INDEX` 0…size−1, `CLOUD_RUN_TASK_INDEX` 0…count−1).
 *
 * Platform neutral: no `Deno.*` and no `node:` imports; the caller passes the
 * environment (`Deno.env.toObject()`).
 *
 * @module
 */

/** One shard: index `index` (0…count−1) of `count`. */
export interface Shard {
  /** 0-based index, 0…count−1. */
  readonly index: number;
  /** Number of shards, at least 1. */
  readonly count: number;
}

/** A bad shard specification or shard environment; the message is one line naming the value. */
export class ShardError extends Error {
  /** Makes the error; `message` names the option or variable and its value. */
  constructor(message: string) {
    super(message);
    this.name = "ShardError";
  }
}

/** Parses a whole number written in decimal digits only (no sign, no exponent, no fraction). */
function wholeNumber(text: string): number | null {
  if (!/^[0-9]+$/.test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : null;
}

/** The range text of `count` shards, for messages: "0…3", or "0" for one shard. */
function indexRange(count: number): string {
  return count === 1 ? "0" : `0…${count - 1}`;
}

/**
 * Parses `"I/N"` (e.g. `"2/8"`): shard I of N, I 0-based (0…N−1). Throws a
 * {@link ShardError} naming `label` and the text for anything else: `3/2`
 * (I ≥ N), `0/0` (N < 1), `-1/2`, `a/b`, `1.5/2`, `2`, `1/2/3`.
 */
export function parseShard(text: string, label = "--shard"): Shard {
  const parts = text.split("/");
  const index = parts.length === 2 ? wholeNumber(parts[0].trim()) : null;
  const count = parts.length === 2 ? wholeNumber(parts[1].trim()) : null;
  if (index === null || count === null) {
    throw new ShardError(
      `${label} ${text}: expected I/N with whole numbers, shards numbered from 0 (I = 0…N−1, e.g. 0/4)`,
    );
  }
  if (count < 1) {
    throw new ShardError(`${label} ${text}: the number of shards N must be at least 1`);
  }
  if (index >= count) {
    throw new ShardError(
      `${label} ${text}: shard ${index} does not exist: shards are numbered from 0, so I must be ${
        indexRange(count)
      } for N = ${count}`,
    );
  }
  return { index, count };
}

/** The engine (or option) a {@link ShardResolution} was read from. */
export type ShardSource =
  | "option"
  | "deno-loftr"
  | "slurm"
  | "kubernetes"
  | "aws-batch"
  | "cloud-run";

/** A shard and where its index and count came from. */
export interface ShardResolution extends Shard {
  /** Which engine (or `--shard I/N`) gave the index. */
  readonly source: ShardSource;
  /**
   * One line saying what was read, e.g. `--shard 2/8` or
   * `SLURM_ARRAY_TASK_ID=2, SLURM_ARRAY_TASK_COUNT=8 (Slurm job array)`.
   */
  readonly description: string;
  /** Index variables of other engines that were set too and not used (`NAME=value`). */
  readonly ignored: readonly string[];
}

/** Our own variable for the shard count where the engine does not export one (Kubernetes). */
export const SHARD_COUNT_VARIABLE = "DENO_LOFTR_SHARD_COUNT";
/** Our own variable for the shard index, for engines not listed (e.g. a shell loop, HTCondor). */
export const SHARD_INDEX_VARIABLE = "DENO_LOFTR_SHARD_INDEX";

/** An array engine's variables (an entry of {@link SHARD_ENGINES}). */
export interface ShardEngine {
  /** The {@link ShardResolution.source} it gives. */
  readonly source: Exclude<ShardSource, "option">;
  /** Its name, for messages ("Slurm job array"). */
  readonly name: string;
  /** The variable holding the 0-based task index. */
  readonly index: string;
  /** The variable holding the number of tasks, where the engine exports one. */
  readonly count: string | null;
}

/**
 * The engines whose variables {@link shardFromEnvironment} reads, in
 * precedence order: the first whose index variable is set is used.
 */
export const SHARD_ENGINES: readonly ShardEngine[] = [
  { source: "deno-loftr", name: "deno-loftr", index: SHARD_INDEX_VARIABLE, count: null },
  {
    source: "slurm",
    name: "Slurm job array",
    index: "SLURM_ARRAY_TASK_ID",
    count: "SLURM_ARRAY_TASK_COUNT",
  },
  {
    source: "kubernetes",
    name: "Kubernetes Indexed Job",
    index: "JOB_COMPLETION_INDEX",
    count: null,
  },
  {
    source: "aws-batch",
    name: "AWS Batch array job",
    index: "AWS_BATCH_JOB_ARRAY_INDEX",
    count: "AWS_BATCH_JOB_ARRAY_SIZE",
  },
  {
    source: "cloud-run",
    name: "Cloud Run job",
    index: "CLOUD_RUN_TASK_INDEX",
    count: "CLOUD_RUN_TASK_COUNT",
  },
];

/** Reads a whole-number variable; throws naming it when it is set but not a whole number. */
function numberVariable(env: Record<string, string | undefined>, name: string): number | null {
  const text = env[name];
  if (text === undefined || text === "") return null;
  const value = wholeNumber(text.trim());
  if (value === null) {
    throw new ShardError(`${name}=${text}: not a whole number`);
  }
  return value;
}

/**
 * Resolves this run's shard from `--shard` (`explicit`) and the environment
 * of the engine running it (`env`, e.g. `Deno.env.toObject()`); `null` when
 * the run is not sharded (no `--shard`, and no engine's index variable set).
 *
 * `explicit` may be:
 * - `"I/N"`: shard I of N; the environment is not read (engines' variables
 *   that are set are listed in `ignored`).
 * - `"auto"`: I and N from the environment; an error when none is set.
 * - `"auto/N"`: I from the environment, N given (for Kubernetes, which does
 *   not export the number of completions, and for re-running some tasks of a
 *   Slurm array: `sbatch --array=2,5 …` still means shards 2 and 5 of N).
 * - `undefined`: as `"auto"`, but `null` when no index variable is set.
 *
 * Index variables, in precedence order (the first that is set is used):
 * `DENO_LOFTR_SHARD_INDEX` (ours, for any other launcher),
 * `SLURM_ARRAY_TASK_ID`, `JOB_COMPLETION_INDEX`, `AWS_BATCH_JOB_ARRAY_INDEX`,
 * `CLOUD_RUN_TASK_INDEX`. The count N, in precedence order: `auto/N`;
 * `DENO_LOFTR_SHARD_COUNT`; the engine's own count (`SLURM_ARRAY_TASK_COUNT`,
 * `AWS_BATCH_JOB_ARRAY_SIZE`, `CLOUD_RUN_TASK_COUNT`; Kubernetes has none).
 * The index is used as it is (0-based), so with a count from `auto/N` or
 * `DENO_LOFTR_SHARD_COUNT` the array IDs are the shard numbers. When N is
 * Slurm's own `SLURM_ARRAY_TASK_COUNT`, the array must be `0-(N-1)` with step
 * 1 (`SLURM_ARRAY_TASK_MIN`/`MAX`/`STEP`): a partial or shifted array (`1-8`,
 * a re-run of `--array=2`) would otherwise give a wrong N silently, so it is
 * refused with a message asking for `--shard auto/N`.
 *
 * Throws a one-line {@link ShardError} naming the option or variable and its
 * value: malformed numbers, an index outside 0…N−1, no count, a shifted
 * Slurm array, `DENO_LOFTR_SHARD_COUNT` without an index.
 */
export function shardFromEnvironment(
  env: Record<string, string | undefined>,
  explicit?: string,
): ShardResolution | null {
  const set = SHARD_ENGINES.filter((e) => env[e.index] !== undefined && env[e.index] !== "");
  const setText = (e: ShardEngine) => `${e.index}=${env[e.index]}`;
  if (explicit !== undefined && !/^auto(\/|$)/.test(explicit)) {
    const shard = parseShard(explicit);
    return {
      ...shard,
      source: "option",
      description: `--shard ${explicit}`,
      ignored: set.map(setText),
    };
  }
  let givenCount: number | null = null;
  if (explicit !== undefined && explicit !== "auto") {
    givenCount = wholeNumber(explicit.slice("auto/".length).trim());
    if (givenCount === null) {
      throw new ShardError(
        `--shard ${explicit}: expected auto, auto/N or I/N with whole numbers (e.g. auto/4)`,
      );
    }
    if (givenCount < 1) {
      throw new ShardError(`--shard ${explicit}: the number of shards N must be at least 1`);
    }
  }
  const ourCount = numberVariable(env, SHARD_COUNT_VARIABLE);
  const engine = set[0];
  if (engine === undefined) {
    const names = SHARD_ENGINES.map((e) => e.index).join(", ");
    if (explicit !== undefined) {
      throw new ShardError(`--shard ${explicit}: no shard index in the environment (${names})`);
    }
    if (ourCount !== null) {
      throw new ShardError(
        `${SHARD_COUNT_VARIABLE}=${
          env[SHARD_COUNT_VARIABLE]
        } is set but no shard index is (${names})`,
      );
    }
    return null;
  }
  const index = numberVariable(env, engine.index)!;
  const read = [setText(engine)];
  let count: number;
  let countName: string;
  if (givenCount !== null) {
    count = givenCount;
    countName = `--shard ${explicit}`;
    read.push(`N from --shard ${explicit}`);
  } else if (ourCount !== null) {
    if (ourCount < 1) {
      throw new ShardError(
        `${SHARD_COUNT_VARIABLE}=${
          env[SHARD_COUNT_VARIABLE]
        }: the number of shards must be at least 1`,
      );
    }
    count = ourCount;
    countName = `${SHARD_COUNT_VARIABLE}=${env[SHARD_COUNT_VARIABLE]}`;
    read.push(countName);
  } else if (engine.source === "slurm") {
    count = slurmCount(env, index);
    countName = `SLURM_ARRAY_TASK_COUNT=${count}`;
    read.push(countName);
  } else {
    const value = engine.count === null ? null : numberVariable(env, engine.count);
    if (value === null) {
      const where = engine.count === null
        ? `the ${engine.name} does not export the number of shards`
        : `${engine.count} is not set`;
      throw new ShardError(
        `${setText(engine)}: ${where}: set ${SHARD_COUNT_VARIABLE} or give --shard auto/N`,
      );
    }
    if (value < 1) {
      throw new ShardError(
        `${engine.count}=${env[engine.count!]}: the number of shards must be at least 1`,
      );
    }
    count = value;
    countName = `${engine.count}=${env[engine.count!]}`;
    read.push(countName);
  }
  if (index >= count) {
    throw new ShardError(
      `${
        setText(engine)
      }: shard ${index} does not exist for ${countName}: shards are numbered from 0 (${
        indexRange(count)
      })`,
    );
  }
  return {
    index,
    count,
    source: engine.source,
    description: `${read.join(", ")} (${engine.name})`,
    ignored: set.slice(1).map(setText),
  };
}

/**
 * N of a Slurm array from `SLURM_ARRAY_TASK_COUNT` (or `MIN`/`MAX`/`STEP`
 * where an older Slurm lacks it), refusing an array that is not `0-(N-1)`.
 */
function slurmCount(env: Record<string, string | undefined>, id: number): number {
  const min = numberVariable(env, "SLURM_ARRAY_TASK_MIN");
  const max = numberVariable(env, "SLURM_ARRAY_TASK_MAX");
  const step = numberVariable(env, "SLURM_ARRAY_TASK_STEP") ?? 1;
  let count = numberVariable(env, "SLURM_ARRAY_TASK_COUNT");
  if (count === null && min !== null && max !== null && step > 0) {
    count = Math.floor((max - min) / step) + 1;
  }
  if (count === null) {
    throw new ShardError(
      `SLURM_ARRAY_TASK_ID=${id}: SLURM_ARRAY_TASK_COUNT is not set: set ${SHARD_COUNT_VARIABLE} or give --shard auto/N`,
    );
  }
  if (count < 1) {
    throw new ShardError(
      `SLURM_ARRAY_TASK_COUNT=${count}: the number of shards must be at least 1`,
    );
  }
  const shifted = (min !== null && min !== 0) || (max !== null && max !== count - 1) || step !== 1;
  if (shifted) {
    const range = `${min ?? "?"}-${max ?? "?"}${step !== 1 ? `:${step}` : ""}`;
    throw new ShardError(
      `SLURM_ARRAY_TASK_ID=${id} of array ${range} (SLURM_ARRAY_TASK_COUNT=${count}): shards are the array IDs 0-(N-1): submit --array=0-${
        count - 1
      }, or give N with --shard auto/N (e.g. to re-run some shards)`,
    );
  }
  return count;
}

/**
 * The stem of shard I of N's result file: `shard-I-of-N` with I padded with
 * zeros to the width of N − 1 (`shard-03-of-16`), so that names sort by index.
 */
export function shardName(shard: Shard): string {
  const width = String(shard.count - 1).length;
  return `shard-${String(shard.index).padStart(width, "0")}-of-${shard.count}`;
}

/**
 * Reads a {@link shardName} back, alone or followed by an extension
 * (`shard-03-of-16.jsonl`); `null` if `name` is none.
 */
export function parseShardName(name: string): Shard | null {
  const m = /^shard-([0-9]+)-of-([0-9]+)(?=$|\.)/.exec(name);
  if (m === null) return null;
  const index = Number(m[1]), count = Number(m[2]);
  if (!Number.isSafeInteger(count) || count < 1 || index >= count) return null;
  return shardName({ index, count }) === name.slice(0, m[0].length) ? { index, count } : null;
}

// ---------------------------------------------------------------------------
// Partition of a pair list

/** Two image indices: a pair to match, in the orientation to match it. */
export type Pair = readonly [number, number];

/** Checks `pairs` against `imageCount`; throws a one-line RangeError naming the pair. */
function checkPairs(pairs: readonly Pair[], imageCount: number): void {
  if (!Number.isSafeInteger(imageCount) || imageCount < 0) {
    throw new RangeError(`image count ${imageCount}: not a whole number`);
  }
  for (let k = 0; k < pairs.length; k++) {
    const [i, j] = pairs[k];
    const ok = (x: number) => Number.isInteger(x) && x >= 0 && x < imageCount;
    if (!ok(i) || !ok(j)) {
      throw new RangeError(`pair ${k} [${i}, ${j}]: no such image among ${imageCount}`);
    }
    if (i === j) throw new RangeError(`pair ${k} [${i}, ${j}]: an image paired with itself`);
  }
}

/**
 * Splits `pairs` (pairs of image indices 0…imageCount−1) into `count`
 * shards, grouping them in blocks of images so that each shard touches few
 * images (each image touched is one decode and one backbone run in that
 * shard). Returns, for each shard, the positions in `pairs` of its pairs in
 * ascending order; every position is in exactly one shard. Deterministic:
 * the same input gives the same partition on every machine.
 *
 * The method is recursive bisection: a pair (i, j) is a point
 * (min(i, j), max(i, j)); a set to split among k shards is cut in two, in
 * the ratio ⌊k/2⌋ : k − ⌊k/2⌋ of its pair count, at a quantile of either
 * coordinate (ties ordered by the other coordinate, then by position),
 * whichever cut leaves fewer images touched on the two sides (the first
 * coordinate on a tie); each side is split again. A shard is therefore a
 * block of the pair matrix: the pairs between one range of images and
 * another, holding ⌊P/N⌋ or ⌈P/N⌉ pairs up to one per level of bisection.
 * Images close in index (a sequence, or a folder listed in name order)
 * end up in the same shards. Shards are empty when there are fewer pairs
 * than shards. Cost O(P log N + N·imageCount).
 *
 * Throws a RangeError for a pair naming an image outside 0…imageCount−1 or
 * the same image twice, and for a count below 1.
 */
export function partitionPairs(
  pairs: readonly Pair[],
  imageCount: number,
  count: number,
): number[][] {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(`shard count ${count}: must be a whole number, at least 1`);
  }
  checkPairs(pairs, imageCount);
  const n = pairs.length;
  const lo = new Int32Array(n), hi = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const [i, j] = pairs[k];
    lo[k] = Math.min(i, j);
    hi[k] = Math.max(i, j);
  }
  const scratch = new Scratch(imageCount);
  const out: number[][] = Array.from({ length: count }, () => []);
  const all = new Uint32Array(n);
  for (let k = 0; k < n; k++) all[k] = k;
  const stack: { items: Uint32Array; first: number; k: number }[] = [{
    items: all,
    first: 0,
    k: count,
  }];
  while (stack.length > 0) {
    const { items, first, k } = stack.pop()!;
    if (k === 1) {
      const positions = new Array<number>(items.length);
      for (let t = 0; t < items.length; t++) positions[t] = items[t];
      out[first] = positions;
      continue;
    }
    const k1 = Math.floor(k / 2);
    const m = Math.round((items.length * k1) / k);
    let best: { left: Uint32Array; right: Uint32Array; cost: number } | null = null;
    for (const [a, b] of [[lo, hi], [hi, lo]]) {
      const split = splitAt(items, a, b, m, scratch);
      const cost = scratch.distinct(split.left, lo, hi) + scratch.distinct(split.right, lo, hi);
      if (best === null || cost < best.cost) best = { ...split, cost };
    }
    stack.push({ items: best!.right, first: first + k1, k: k - k1 });
    stack.push({ items: best!.left, first, k: k1 });
  }
  return out;
}

/** Reusable per-image arrays for {@link partitionPairs}. */
class Scratch {
  readonly hist: Int32Array;
  readonly mark: Int32Array;
  stamp = 0;
  constructor(imageCount: number) {
    this.hist = new Int32Array(imageCount);
    this.mark = new Int32Array(imageCount);
  }
  /** Number of distinct images in the pairs at `items`. */
  distinct(items: Uint32Array, lo: Int32Array, hi: Int32Array): number {
    const stamp = ++this.stamp, mark = this.mark;
    let d = 0;
    for (let t = 0; t < items.length; t++) {
      const k = items[t], a = lo[k], b = hi[k];
      if (mark[a] !== stamp) (mark[a] = stamp), d++;
      if (mark[b] !== stamp) (mark[b] = stamp), d++;
    }
    return d;
  }
}

/**
 * The first `m` of `items` in (a, b, position) order, and the rest, each in
 * position order (items are in position order). Linear time: counting on a,
 * then on b among the items at the cut value of a.
 */
function splitAt(
  items: Uint32Array,
  a: Int32Array,
  b: Int32Array,
  m: number,
  scratch: Scratch,
): { left: Uint32Array; right: Uint32Array } {
  if (m <= 0) return { left: new Uint32Array(0), right: items };
  if (m >= items.length) return { left: items, right: new Uint32Array(0) };
  const hist = scratch.hist;
  // v: the value of a at rank m; below: items with a < v.
  const v = rankValue(items, a, null, 0, m, hist);
  let below = 0;
  for (let t = 0; t < items.length; t++) if (a[items[t]] < v) below++;
  // w: the value of b at rank m − below among the items with a = v.
  const w = rankValue(items, b, a, v, m - below, hist);
  let belowW = 0;
  for (let t = 0; t < items.length; t++) {
    const k = items[t];
    if (a[k] === v && b[k] < w) belowW++;
  }
  let tied = m - below - belowW; // items with (a, b) = (v, w) that go left, first in position order
  const left = new Uint32Array(m), right = new Uint32Array(items.length - m);
  let l = 0, r = 0;
  for (let t = 0; t < items.length; t++) {
    const k = items[t], ak = a[k];
    let goLeft = ak < v;
    if (ak === v) {
      const bk = b[k];
      goLeft = bk < w || (bk === w && tied > 0);
      if (bk === w && tied > 0) tied--;
    }
    if (goLeft) left[l++] = k;
    else right[r++] = k;
  }
  return { left, right };
}

/**
 * The value of `key` at rank `m` (0-based) in key order among the items
 * (those with `filter[k] === value` when `filter` is given). `hist` is zero
 * on entry and on exit.
 */
function rankValue(
  items: Uint32Array,
  key: Int32Array,
  filter: Int32Array | null,
  value: number,
  m: number,
  hist: Int32Array,
): number {
  let min = 0x7fffffff, max = -1;
  for (let t = 0; t < items.length; t++) {
    const k = items[t];
    if (filter !== null && filter[k] !== value) continue;
    const x = key[k];
    hist[x]++;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  let cumulative = 0, result = max;
  for (let x = min; x <= max; x++) {
    cumulative += hist[x];
    if (cumulative > m) {
      result = x;
      break;
    }
  }
  for (let x = min; x <= max; x++) hist[x] = 0;
  return result;
}

/**
 * An order of the pairs at `positions` (default: all of `pairs`) that keeps
 * few images alive in `Matcher.matchMany`, which holds an image's features
 * from its first pair to its last. Of three candidates, the one with the
 * fewest images alive at its peak ({@link peakLiveImages}; the first on a
 * tie): a greedy order (repeatedly take the image whose remaining pairs would
 * bring the fewest new images alive, then the one finishing the most images,
 * then the lowest index, and run all its remaining pairs, partners already
 * alive first), the positions as given, and the pairs sorted by their larger
 * image, then their smaller. For the pairs between a block of a images and a
 * block of b ≥ a others this is a + 1 images alive instead of b + 1; all
 * pairs among k images need k − 1 or k in any order. Never more than the
 * order given. Returns positions into `pairs`; each pair keeps its
 * orientation. Deterministic.
 */
export function memoryOrder(pairs: readonly Pair[], positions?: readonly number[]): number[] {
  const items = positions ?? pairs.map((_, k) => k);
  const greedy = greedyOrder(pairs, items);
  const larger = (k: number) => Math.max(pairs[k][0], pairs[k][1]);
  const smaller = (k: number) => Math.min(pairs[k][0], pairs[k][1]);
  const byLarger = items.toSorted((a, b) =>
    larger(a) - larger(b) || smaller(a) - smaller(b) || a - b
  );
  let best = greedy, bestPeak = peakLiveImages(pairs, greedy);
  for (const candidate of [items, byLarger]) {
    const peak = peakLiveImages(pairs, candidate);
    if (peak < bestPeak) (best = [...candidate]), (bestPeak = peak);
  }
  return best;
}

/** The greedy candidate of {@link memoryOrder}. */
function greedyOrder(pairs: readonly Pair[], items: readonly number[]): number[] {
  // Local image numbering.
  const local = new Map<number, number>();
  const ends = new Int32Array(items.length * 2);
  items.forEach((p, t) => {
    const pair = pairs[p];
    if (pair === undefined) {
      throw new RangeError(`position ${p}: no such pair among ${pairs.length}`);
    }
    if (pair[0] === pair[1]) {
      throw new RangeError(`pair ${p} [${pair}]: an image paired with itself`);
    }
    for (let s = 0; s < 2; s++) {
      let v = local.get(pair[s]);
      if (v === undefined) local.set(pair[s], v = local.size);
      ends[2 * t + s] = v;
    }
  });
  const images = [...local.keys()]; // local → global index
  const n = images.length;
  // Adjacency (CSR): for each local image, the item numbers of its pairs.
  const degree = new Int32Array(n);
  for (const v of ends) degree[v]++;
  const start = new Int32Array(n + 1);
  for (let v = 0; v < n; v++) start[v + 1] = start[v] + degree[v];
  const adjacent = new Int32Array(ends.length);
  const fill = start.slice(0, n);
  for (let t = 0; t < items.length; t++) {
    adjacent[fill[ends[2 * t]]++] = t;
    adjacent[fill[ends[2 * t + 1]]++] = t;
  }
  const other = (t: number, v: number) => (ends[2 * t] === v ? ends[2 * t + 1] : ends[2 * t]);
  const remaining = degree.slice(); // pairs not yet ordered, per image
  const untouchedPartners = degree.slice(); // remaining pairs whose partner is not alive yet
  const finishes = new Int32Array(n); // remaining pairs whose partner has no other pair left
  const touched = new Uint8Array(n);
  const done = new Uint8Array(items.length);
  const touch = (v: number) => {
    if (touched[v]) return;
    touched[v] = 1;
    for (let e = start[v]; e < start[v + 1]; e++) {
      const t = adjacent[e];
      if (!done[t]) untouchedPartners[other(t, v)]--;
    }
  };
  const lastPairOf = (u: number) => {
    for (let e = start[u]; e < start[u + 1]; e++) if (!done[adjacent[e]]) return adjacent[e];
    throw new Error("memoryOrder: no pair left");
  };
  for (let u = 0; u < n; u++) if (remaining[u] === 1) finishes[other(lastPairOf(u), u)]++;
  const order: number[] = [];
  while (order.length < items.length) {
    // Pick the image to finish next.
    let v = -1, vNew = 0;
    for (let w = 0; w < n; w++) {
      if (remaining[w] === 0) continue;
      const fresh = (touched[w] ? 0 : 1) + untouchedPartners[w];
      const better = v === -1 || fresh < vNew ||
        (fresh === vNew && (finishes[w] > finishes[v] ||
          (finishes[w] === finishes[v] && images[w] < images[v])));
      if (better) (v = w), (vNew = fresh);
    }
    const row: number[] = [];
    for (let e = start[v]; e < start[v + 1]; e++) if (!done[adjacent[e]]) row.push(adjacent[e]);
    // Partners alive first (those finished by this pair first), then new ones; by image index.
    const rank = (t: number) => {
      const u = other(t, v);
      return touched[u] ? (remaining[u] === 1 ? 0 : 1) : 2;
    };
    row.sort((s, t) => rank(s) - rank(t) || images[other(s, v)] - images[other(t, v)] || s - t);
    touch(v);
    for (const t of row) {
      const u = other(t, v);
      touch(u);
      if (remaining[u] === 1) finishes[v]--;
      if (remaining[v] === 1) finishes[u]--;
      done[t] = 1;
      remaining[u]--;
      remaining[v]--;
      if (remaining[u] === 1) finishes[other(lastPairOf(u), u)]++;
      if (remaining[v] === 1) finishes[other(lastPairOf(v), v)]++;
      order.push(items[t]);
    }
  }
  return order;
}

/**
 * The most images alive at once when `Matcher.matchMany` runs the pairs at
 * `order` (positions into `pairs`) in that order: an image is alive from its
 * first pair to its last, both included.
 */
export function peakLiveImages(pairs: readonly Pair[], order: readonly number[]): number {
  const last = new Map<number, number>();
  order.forEach((p, t) => {
    for (const v of pairs[p]) last.set(v, t);
  });
  const seen = new Set<number>();
  let alive = 0, peak = 0;
  order.forEach((p, t) => {
    for (const v of pairs[p]) if (!seen.has(v)) seen.add(v), alive++;
    peak = Math.max(peak, alive);
    for (const v of new Set(pairs[p])) if (last.get(v) === t) alive--;
  });
  return peak;
}

/** Number of distinct images in the pairs at `positions`: the backbone runs of a shard. */
export function imagesTouched(pairs: readonly Pair[], positions: readonly number[]): number {
  const seen = new Set<number>();
  for (const p of positions) for (const v of pairs[p]) seen.add(v);
  return seen.size;
}

/** Figures of one shard of a partition. */
export interface ShardFigures {
  /** Pairs matched by the shard. */
  readonly pairs: number;
  /** Images it decodes and runs the backbone on. */
  readonly images: number;
}

/** Figures of a partition (see {@link partitionFigures}). */
export interface PartitionFigures {
  /** Per shard. */
  readonly shards: readonly ShardFigures[];
  /** Backbone runs of the unsharded run: the images used by any pair. */
  readonly unsharded: number;
  /** Backbone runs of all shards together. */
  readonly sharded: number;
  /** `sharded / unsharded` (1 for one shard; 0 without pairs). */
  readonly fraction: number;
}

/**
 * Backbone runs of each shard of `partition` (from {@link partitionPairs})
 * against the unsharded run's: the figures a sharded run reports ("this
 * shard: 312 of 1 000 images for 31 000 of 499 500 pairs").
 */
export function partitionFigures(
  pairs: readonly Pair[],
  partition: readonly (readonly number[])[],
): PartitionFigures {
  const shards = partition.map((positions) => ({
    pairs: positions.length,
    images: imagesTouched(pairs, positions),
  }));
  const unsharded = imagesTouched(pairs, pairs.map((_, k) => k));
  const sharded = shards.reduce((s, x) => s + x.images, 0);
  return { shards, unsharded, sharded, fraction: unsharded === 0 ? 0 : sharded / unsharded };
}
