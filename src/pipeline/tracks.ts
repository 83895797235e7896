/**
 * Keypoints for a detector-free matcher: LoFTR gives every pair its own
 * positions, but COLMAP needs one keypoint list per image, shared by all its
 * pairs, so that a physical point seen in three photos becomes one track.
 * `mergeKeypoints` merges each image's match positions across its pairs the
 * way hloc's `match_dense.aggregate_matches` does (../shared/docs/sfm.md,
 * "Keypoints of a detector-free matcher"), with these choices:
 *
 * * **Cells.** An image is cut into square cells of `cellSize` pixels whose
 *   edges start at the image's top-left *corner* (cell `i` covers this
 *   engine's coordinates `[i·c − 0.5, (i+1)·c − 0.5)`, so with `cellSize` 1
 *   every pixel is one cell). Every occupied cell gets one keypoint.
 * * **Position: the score-weighted mean** of the match positions that fall
 *   in the cell (the plain mean if all their scores are 0); where a cell
 *   holds positions of `preferred` matches, of those alone. The cell is
 *   meant to be about the size of the matcher's localisation error, so its
 *   positions are taken as noisy observations of one physical point; the
 *   weighted mean is their least-squares estimate, displaces the
 *   observations least on average, needs no second bin size (hloc's
 *   score-weighted most common sub-position needs one, `max_error`), and
 *   does not depend on the order of the pairs. With coarse-only matches
 *   (positions on the coarse grid) it equals the mode. Its drawback: a cell
 *   holding two distinct points gets a position between them, so keep cells
 *   no larger than the matcher's precision.
 * * **Matches.** Each match maps to the keypoints of its two cells. Per pair,
 *   one match per keypoint on each side (COLMAP drops pairs of matches that
 *   share a keypoint): preferred matches first, then by decreasing score, a
 *   match is kept when neither of its keypoints is taken yet (ties: smaller
 *   keypoint indices first). So a match that is not preferred (say, one a
 *   first RANSAC rejected) never moves or displaces a preferred one; it only
 *   adds a keypoint and a match where they left room.
 *   Repeated matches of the same two cells collapse into one.
 * * **Cap.** With `maxKeypoints`, an image keeps its keypoints of largest
 *   total score (the sum over the positions that placed it; ties: cell
 *   order); matches to dropped keypoints are dropped (hloc reassigns them to
 *   a near kept keypoint).
 * * **Determinism.** Keypoints are numbered in cell order (row by row, top to
 *   bottom, left to right); positions are summed in a canonical order. The
 *   output is identical for any order of the pairs and of the matches within
 *   a pair.
 *
 * Cell sizes, in pixels of the image the positions are in (the original
 * photo for `Matcher.match` output):
 * * full LoFTR (sub-pixel refinement): 1–2 px (hloc's `loftr` uses 1);
 * * coarse-only LoFTR (positions are coarse-cell centres, every
 *   `8 · original / resized` px): that stride or smaller; every coarse cell
 *   then stays its own keypoint and the same coarse cell in different pairs
 *   merges exactly (hloc's `loftr_aachen`: 8 px at 1024 px).
 *
 * Positions are in this engine's pixel convention (centre of the top-left
 * pixel at (0, 0)) in and out. Platform neutral.
 * @module
 */

/** The matches of one image pair, as the matcher gives them. */
export interface PairMatches {
  /** Index of the first image (0-based, the caller's numbering). */
  image0: number;
  /** Index of the second image. */
  image1: number;
  /** Positions in image0, `[x0, y0, x1, y1, …]`, one per match. */
  keypoints0: ArrayLike<number>;
  /** Positions in image1, same length. */
  keypoints1: ArrayLike<number>;
  /** Per match, its confidence (≥ 0): the weight of its positions and its rank in the pair. */
  scores: ArrayLike<number>;
  /**
   * Per match, 1 if it is preferred (ranked before every match that is not,
   * and its positions alone place a keypoint they share a cell with), else 0.
   * Default: every match preferred.
   */
  preferred?: ArrayLike<number>;
}

/** Options of `mergeKeypoints`. */
export interface MergeKeypointsOptions {
  /** Cell size in pixels (> 0): one keypoint per occupied cell. See the module's notes. */
  cellSize: number;
  /** At most this many keypoints per image (those of largest total score). */
  maxKeypoints?: number;
  /** Number of images (default: the largest index used + 1); images without matches get none. */
  numImages?: number;
}

/** What `mergeKeypoints` returns. */
export interface MergedKeypoints {
  /** Per image, its keypoints `[x, y, …]` in this engine's pixel convention, in cell order. */
  keypoints: Float32Array[];
  /** Per image and keypoint, the sum of the scores of the match positions that placed it. */
  keypointScores: Float32Array[];
  /**
   * Per pair (input order), the kept matches as rows × 2 keypoint indices:
   * column 0 in the pair's `image0`, column 1 in its `image1`; sorted by
   * column 0. Each keypoint at most once per pair.
   */
  matches: Uint32Array[];
  /** Per pair, the score of each kept match (the best of those merged into it). */
  matchScores: Float32Array[];
}

const OFFSET = 2 ** 20, SPAN = 2 ** 21;

/** Index of `key` in the sorted array `keys` (which holds it). */
function lowerBound(keys: Float64Array, key: number): number {
  let lo = 0, hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Merges the match positions of every pair into one keypoint list per image
 * and re-expresses each pair's matches as indices into those lists
 * (details, cell sizes and determinism in the module's notes). Throws on
 * inconsistent lengths, a pair of an image with itself, non-finite positions
 * or negative/non-finite scores, naming the pair.
 */
export function mergeKeypoints(
  pairs: readonly PairMatches[],
  options: MergeKeypointsOptions,
): MergedKeypoints {
  const c = options.cellSize;
  if (!(c > 0) || !Number.isFinite(c)) throw new Error(`cellSize ${c}: must be a positive number`);
  const cap = options.maxKeypoints;
  if (cap !== undefined && !(Number.isInteger(cap) && cap >= 0)) {
    throw new Error(`maxKeypoints ${cap}: must be a whole number ≥ 0`);
  }
  let numImages = options.numImages ?? 0;
  pairs.forEach((p, i) => {
    const n = p.scores.length;
    const what = `pair ${i} (images ${p.image0}, ${p.image1})`;
    for (const im of [p.image0, p.image1]) {
      if (!Number.isInteger(im) || im < 0) throw new Error(`${what}: image index ${im}`);
      if (options.numImages !== undefined && im >= options.numImages) {
        throw new Error(`${what}: image index ${im} ≥ numImages ${options.numImages}`);
      }
    }
    if (p.image0 === p.image1) throw new Error(`${what}: an image paired with itself`);
    if (p.keypoints0.length !== 2 * n || p.keypoints1.length !== 2 * n) {
      throw new Error(
        `${what}: ${n} scores but ${p.keypoints0.length / 2} and ${
          p.keypoints1.length / 2
        } positions`,
      );
    }
    if (p.preferred && p.preferred.length !== n) {
      throw new Error(`${what}: ${n} scores but ${p.preferred.length} preferred flags`);
    }
    if (options.numImages === undefined) {
      numImages = Math.max(numImages, p.image0 + 1, p.image1 + 1);
    }
  });

  // Cell of every match position; observations gathered per image.
  const cellKey = (x: number, y: number, what: string) => {
    if (!Number.isFinite(x) || !Number.isFinite(y)) {
      throw new Error(`${what}: position (${x}, ${y})`);
    }
    const cx = Math.floor((x + 0.5) / c), cy = Math.floor((y + 0.5) / c);
    if (Math.abs(cx) >= OFFSET || Math.abs(cy) >= OFFSET) {
      throw new Error(`${what}: position (${x}, ${y}) is too far out for cells of ${c} px`);
    }
    return (cy + OFFSET) * SPAN + (cx + OFFSET);
  };
  const counts = new Array<number>(numImages).fill(0);
  for (const p of pairs) {
    counts[p.image0] += p.scores.length;
    counts[p.image1] += p.scores.length;
  }
  const obs = counts.map((n) => ({
    key: new Float64Array(n),
    x: new Float64Array(n),
    y: new Float64Array(n),
    w: new Float64Array(n),
    preferred: new Uint8Array(n),
    size: 0,
  }));
  const keys0: Float64Array[] = [], keys1: Float64Array[] = [], preferredOf: Uint8Array[] = [];
  pairs.forEach((p, i) => {
    const n = p.scores.length;
    const k0 = new Float64Array(n), k1 = new Float64Array(n);
    const preferred = Uint8Array.from({ length: n }, (_, m) => (p.preferred?.[m] ?? 1) ? 1 : 0);
    for (let m = 0; m < n; m++) {
      const w = p.scores[m];
      if (!(w >= 0) || !Number.isFinite(w)) {
        throw new Error(`pair ${i} (images ${p.image0}, ${p.image1}), match ${m}: score ${w}`);
      }
      const what = `pair ${i} (images ${p.image0}, ${p.image1}), match ${m}`;
      for (const [side, keys] of [[0, k0], [1, k1]] as const) {
        const xy = side === 0 ? p.keypoints0 : p.keypoints1;
        const o = obs[side === 0 ? p.image0 : p.image1];
        const x = xy[2 * m], y = xy[2 * m + 1];
        const key = cellKey(x, y, what);
        keys[m] = key;
        o.key[o.size] = key;
        o.x[o.size] = x;
        o.y[o.size] = y;
        o.w[o.size] = w;
        o.preferred[o.size] = preferred[m];
        o.size++;
      }
    }
    keys0.push(k0);
    keys1.push(k1);
    preferredOf.push(preferred);
  });

  // Per image: keypoints in cell order, positions summed in a canonical order.
  const keypoints: Float32Array[] = [], keypointScores: Float32Array[] = [];
  const cellsOf: Float64Array[] = [], remapOf: Int32Array[] = [];
  for (const o of obs) {
    const n = o.size;
    // the occupied cells, sorted (native numeric sort), without repeats
    const sorted = o.key.slice(0, n).sort();
    let cells = 0;
    for (let k = 0; k < n; k++) {
      if (k === 0 || sorted[k] !== sorted[k - 1]) sorted[cells++] = sorted[k];
    }
    const cellKeys = sorted.slice(0, cells);
    // observations bucketed by cell (counting sort), each bucket in a canonical order
    const cellOf = new Int32Array(n), start = new Int32Array(cells + 1);
    for (let k = 0; k < n; k++) {
      cellOf[k] = lowerBound(cellKeys, o.key[k]);
      start[cellOf[k] + 1]++;
    }
    for (let i = 0; i < cells; i++) start[i + 1] += start[i];
    const fill = start.slice(0, cells), order = new Int32Array(n);
    for (let k = 0; k < n; k++) order[fill[cellOf[k]]++] = k;
    const xs = new Float64Array(cells), ys = new Float64Array(cells), ws = new Float64Array(cells);
    for (let i = 0; i < cells; i++) {
      const lo = start[i], hi = start[i + 1];
      if (hi - lo > 1) {
        order.subarray(lo, hi).sort((a, b) =>
          o.x[a] - o.x[b] || o.y[a] - o.y[b] || o.w[a] - o.w[b] ||
          o.preferred[a] - o.preferred[b]
        );
      }
      // the preferred positions of the cell, or all of them when none is
      let anyPreferred = 0;
      for (let r = lo; r < hi; r++) anyPreferred |= o.preferred[order[r]];
      let sw = 0, sx = 0, sy = 0, ux = 0, uy = 0, count = 0;
      for (let r = lo; r < hi; r++) {
        const k = order[r];
        if (anyPreferred && !o.preferred[k]) continue;
        count++;
        sw += o.w[k];
        sx += o.w[k] * o.x[k];
        sy += o.w[k] * o.y[k];
        ux += o.x[k];
        uy += o.y[k];
      }
      xs[i] = sw > 0 ? sx / sw : ux / count;
      ys[i] = sw > 0 ? sy / sw : uy / count;
      ws[i] = sw;
    }
    // the cap: the cells of largest total score, kept in cell order
    const remap = new Int32Array(cells);
    let kept = cells;
    if (cap !== undefined && cells > cap) {
      const rank = Array.from({ length: cells }, (_, i) => i).sort((a, b) =>
        ws[b] - ws[a] || a - b
      );
      remap.fill(-1);
      for (let r = 0; r < cap; r++) remap[rank[r]] = 0;
      kept = 0;
      for (let i = 0; i < cells; i++) if (remap[i] === 0) remap[i] = kept++ + 1;
      for (let i = 0; i < cells; i++) remap[i] = remap[i] > 0 ? remap[i] - 1 : -1;
    } else {
      for (let i = 0; i < cells; i++) remap[i] = i;
    }
    const kp = new Float32Array(2 * kept), ks = new Float32Array(kept);
    for (let i = 0; i < cells; i++) {
      const j = remap[i];
      if (j < 0) continue;
      kp[2 * j] = xs[i];
      kp[2 * j + 1] = ys[i];
      ks[j] = ws[i];
    }
    keypoints.push(kp);
    keypointScores.push(ks);
    cellsOf.push(cellKeys);
    remapOf.push(remap);
  }
  const keypointOf = (image: number, key: number) =>
    remapOf[image][lowerBound(cellsOf[image], key)];

  // Per pair: matches between keypoints, one per keypoint on each side.
  const matches: Uint32Array[] = [], matchScores: Float32Array[] = [];
  pairs.forEach((p, i) => {
    const n = p.scores.length;
    const a = new Int32Array(n), b = new Int32Array(n), s = new Float64Array(n);
    const preferred = new Uint8Array(n);
    let m = 0;
    for (let k = 0; k < n; k++) {
      a[m] = keypointOf(p.image0, keys0[i][k]);
      b[m] = keypointOf(p.image1, keys1[i][k]);
      s[m] = p.scores[k];
      preferred[m] = preferredOf[i][k];
      if (a[m] >= 0 && b[m] >= 0) m++;
    }
    const cand = new Int32Array(m).map((_, k) => k);
    cand.sort((u, v) => preferred[v] - preferred[u] || s[v] - s[u] || a[u] - a[v] || b[u] - b[v]);
    const used0 = new Uint8Array(keypointScores[p.image0].length);
    const used1 = new Uint8Array(keypointScores[p.image1].length);
    const kept: number[] = [];
    for (const k of cand) {
      if (used0[a[k]] || used1[b[k]]) continue;
      used0[a[k]] = used1[b[k]] = 1;
      kept.push(k);
    }
    kept.sort((u, v) => a[u] - a[v]);
    const out = new Uint32Array(2 * kept.length), sc = new Float32Array(kept.length);
    kept.forEach((k, j) => {
      out[2 * j] = a[k];
      out[2 * j + 1] = b[k];
      sc[j] = s[k];
    });
    matches.push(out);
    matchScores.push(sc);
  });
  return { keypoints, keypointScores, matches, matchScores };
}
