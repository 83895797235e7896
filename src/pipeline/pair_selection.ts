/**
 * Which image pairs a reconstruction matches: every pair (exhaustive), each
 * photo with its K successors in name order (`--sequential K`, for video),
 * or a list read from a file (`--pairs FILE`: one `name0 name1` per line, as
 * hloc's pair files and COLMAP's `matches_importer --match_list_path`).
 * Pairs are pairs of indices into the caller's image list ({@link Pair}).
 * Platform neutral.
 * @module
 */
import type { Pair } from "./shard.ts";

/** Every pair `(i, j)` of `n` images with `i < j`, in row order: `(0,1), (0,2), …, (n−2,n−1)`. */
export function exhaustivePairs(n: number): Pair[] {
  const pairs: Pair[] = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push([i, j]);
  return pairs;
}

/**
 * Each of `n` images with its `k` successors (`(i, i+1)`, …, `(i, i+k)`
 * while below `n`), in row order: COLMAP's `sequential_matcher` without loop
 * detection. Throws a RangeError for `k` not a whole number ≥ 1.
 */
export function sequentialPairs(n: number, k: number): Pair[] {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`--sequential ${k}: expected K >= 1`);
  const pairs: Pair[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j <= Math.min(n - 1, i + k); j++) pairs.push([i, j]);
  }
  return pairs;
}

/** What {@link parsePairList} read. */
export interface PairList {
  /** The pairs, in the file's order, each once; oriented as the file writes them. */
  pairs: Pair[];
  /** Lines naming a pair already listed (in either order), `file:line: …`; skipped. */
  repeated: string[];
}

/**
 * Reads a pair list: one `name0 name1` per line (names relative to the image
 * folder, separated by spaces or tabs; empty lines and lines starting with
 * `#` are skipped), each name one of `names`. A pair listed again, in either
 * order, is skipped and reported in `repeated`. Throws an Error naming
 * `source` and the line for a line without exactly two names, a name not
 * among `names`, or an image paired with itself.
 */
export function parsePairList(text: string, names: readonly string[], source: string): PairList {
  const index = new Map(names.map((n, i) => [n, i]));
  const seen = new Map<string, number>();
  const pairs: Pair[] = [], repeated: string[] = [];
  text.split(/\r?\n/).forEach((raw, k) => {
    const line = raw.trim(), at = `${source}:${k + 1}`;
    if (!line || line.startsWith("#")) return;
    const words = line.split(/\s+/);
    if (words.length !== 2) {
      throw new Error(`${at}: expected two image names, got "${line.slice(0, 80)}"`);
    }
    const [a, b] = words.map((w) => {
      const i = index.get(w);
      if (i === undefined) throw new Error(`${at}: no image ${w} among the ${names.length} photos`);
      return i;
    });
    if (a === b) throw new Error(`${at}: ${words[0]} paired with itself`);
    const key = `${Math.min(a, b)} ${Math.max(a, b)}`;
    const first = seen.get(key);
    if (first !== undefined) {
      repeated.push(`${at}: ${line} repeats line ${first}`);
      return;
    }
    seen.set(key, k + 1);
    pairs.push([a, b]);
  });
  if (pairs.length === 0) throw new Error(`${source}: no pair listed`);
  return { pairs, repeated };
}
