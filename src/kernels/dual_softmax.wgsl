// Coarse matching by dual softmax with mutual nearest neighbours, computed
// over row tiles of the similarity matrix so that the L×S matrix never has to
// exist whole. A tile holds rows i0 .. i0+T-1: sim[r, j] = <f0[i0+r], f1[j]> / (C·τ)
// (made by linear.wgsl). With row statistics (max, Σexp) over j and
// column statistics over i,
//   conf[i, j] = softmax_j(sim)[i, j] · softmax_i(sim)[i, j].
// Pass 1 (every tile): `row_stats`, `col_stats` (running, merged across tiles).
// Pass 2 (every tile): `row_best` (argmax_j conf), `col_best` (running argmax_i).
// Then `mutual` keeps (i, j) when both are each other's best, conf > thr and
// neither cell is within `border` cells of its grid's edge, appending it to
// `matches` with an atomic counter. Ties keep the first index, as argmax does.
// `confidence` writes a tile's rows of conf itself (for inspection and tests).
//
// Cooperation (src/gpu/gpu.ts `KernelTuning`): each row (row_stats, row_best) or
// column (col_stats, col_best) is shared by LANES invocations, which deal its
// entries among themselves and combine their partial results in workgroup
// memory. "cpu" tuning: LANES 1, an invocation per row or column with a serial
// loop and no barrier (a CPU runs the invocations of a workgroup as SIMD
// lanes). "gpu" tuning: a workgroup of 256 per row (lanes read adjacent
// entries), and 32 adjacent columns per workgroup with 8 lanes each (adjacent
// invocations read adjacent columns). The maxima and argmaxima are the same
// either way (ties still keep the first index); the sums differ by rounding.

#include "include/grid.wgsl"

override WG: u32 = 64u; // invocations per workgroup of the row and column kernels (≤ 256)
override LANES: u32 = 1u; // invocations per row or column, a power of two dividing WG

struct Params {
  T: u32, // rows in this tile
  i0: u32, // first row of the tile
  S: u32, // columns (tokens of image 1)
  L: u32, // rows (tokens of image 0)
  W0: u32, // coarse grid of image 0 (width, height)
  H0: u32,
  W1: u32, // coarse grid of image 1
  H1: u32,
  border: u32,
  first: u32, // 1 for the first tile: (re)initialise the running column values
  thr: f32,
}

struct Matches {
  count: atomic<u32>,
  data: array<u32>, // (i, j, bitcast<u32>(conf)) per match
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> sim: array<f32>; // [T, S]
@group(0) @binding(2) var<storage, read_write> rowStats: array<f32>; // [L, 2]: max, Σexp
@group(0) @binding(3) var<storage, read_write> colStats: array<f32>; // [S, 2]
@group(0) @binding(4) var<storage, read_write> rowBest: array<u32>; // [L, 2]: j, conf bits
@group(0) @binding(5) var<storage, read_write> colBest: array<u32>; // [S, 2]: i, key bits (below)
@group(0) @binding(6) var<storage, read_write> conf: array<f32>; // [L, S]: the tile's rows i0 ..
@group(0) @binding(7) var<storage, read_write> matches: Matches;

fn confidence_at(r: u32, j: u32) -> f32 {
  let s = sim[r * p.S + j];
  let i = p.i0 + r;
  return exp(s - rowStats[2u * i]) / rowStats[2u * i + 1u] *
    (exp(s - colStats[2u * j]) / colStats[2u * j + 1u]);
}

// The row or column an invocation works on, and its lane among the LANES sharing it.
struct Share {
  item: u32,
  lane: u32,
  first: u32, // local index of lane 0
  stride: u32, // local-index step between lanes
}

// Rows: the lanes of a row are adjacent invocations.
fn rowShare(wid: vec3u, nwg: vec3u, li: u32) -> Share {
  let group = flatWorkgroup(wid, nwg);
  return Share(group * (WG / LANES) + li / LANES, li % LANES, li - li % LANES, 1u);
}

// Columns: adjacent invocations take adjacent columns, the lanes are WG / LANES apart.
fn colShare(wid: vec3u, nwg: vec3u, li: u32) -> Share {
  let per = WG / LANES;
  let group = flatWorkgroup(wid, nwg);
  return Share(group * per + li % per, li / per, li % per, per);
}

// A partial result: a value and, for argmax, the index it was found at.
struct Partial {
  v: f32,
  i: u32,
}

const MAX = 0u;
const SUM = 1u;
const ARGMAX = 2u; // highest v, then lowest i

var<workgroup> partials: array<Partial, 256>;

fn combine(a: Partial, b: Partial, op: u32) -> Partial {
  switch op {
    case MAX: { return Partial(max(a.v, b.v), 0u); }
    case SUM: { return Partial(a.v + b.v, 0u); }
    default: {
      if (b.v > a.v || (b.v == a.v && b.i < a.i)) { return b; }
      return a;
    }
  }
}

// Combines the partial results of the LANES invocations sharing s.item (a
// tree in workgroup memory); every lane gets the result. Must be reached by
// every invocation of the workgroup (it holds barriers when LANES > 1).
fn share(s: Share, mine: Partial, op: u32) -> Partial {
  if (LANES == 1u) { return mine; }
  let me = s.first + s.lane * s.stride;
  partials[me] = mine;
  for (var step = LANES / 2u; step > 0u; step /= 2u) {
    workgroupBarrier();
    if (s.lane < step) { partials[me] = combine(partials[me], partials[me + step * s.stride], op); }
  }
  workgroupBarrier();
  let all = partials[s.first];
  workgroupBarrier(); // read before the next share() writes
  return all;
}

// Max and Σexp(v − max) of the entries sim[first + k·step], k < n (a row: step 1,
// n = S; a column: step S, n = T), dealt to the LANES invocations sharing s.
fn lineStats(s: Share, first: u32, step: u32, n: u32) -> vec2f {
  var m = -3.0e38;
  for (var k = s.lane; k < n; k += LANES) { m = max(m, sim[first + k * step]); }
  m = share(s, Partial(m, 0u), MAX).v;
  var e = 0.0;
  for (var k = s.lane; k < n; k += LANES) { e += exp(sim[first + k * step] - m); }
  return vec2f(m, share(s, Partial(e, 0u), SUM).v);
}

@compute @workgroup_size(WG)
fn row_stats(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let s = rowShare(wid, nwg, li);
  let r = min(s.item, p.T - 1u); // past T: compute a real row, store nothing
  let st = lineStats(s, r * p.S, 1u, p.S);
  if (s.item < p.T && s.lane == 0u) {
    rowStats[2u * (p.i0 + r)] = st.x;
    rowStats[2u * (p.i0 + r) + 1u] = st.y;
  }
}

@compute @workgroup_size(WG)
fn col_stats(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let s = colShare(wid, nwg, li);
  let j = min(s.item, p.S - 1u);
  var st = lineStats(s, j, p.S, p.T);
  if (s.item >= p.S || s.lane != 0u) { return; }
  if (p.first == 0u) {
    // Merge with the running statistics of the earlier tiles (online softmax).
    let m0 = colStats[2u * j];
    let mm = max(m0, st.x);
    st = vec2f(mm, colStats[2u * j + 1u] * exp(m0 - mm) + st.y * exp(st.x - mm));
  }
  colStats[2u * j] = st.x;
  colStats[2u * j + 1u] = st.y;
}

// conf[i, j] = exp(2·sim − rowLse_i − colLse_j) with lse = max + ln Σexp, so along a
// row the best j maximises 2·sim[i, j] − colLse_j, and along a column the best i
// maximises 2·sim[i, j] − rowLse_i: one logarithm per entry instead of two
// exponentials and two divisions; the winner's confidence is computed as before.
fn rowLse(i: u32) -> f32 {
  return rowStats[2u * i] + log(rowStats[2u * i + 1u]);
}

fn colLse(j: u32) -> f32 {
  return colStats[2u * j] + log(colStats[2u * j + 1u]);
}

// The best entry of a row (along j) or a column (along i) of the tile, as
// lineStats deals them, starting from `init`: highest 2·sim − lse of the
// other index, then lowest index (j along a row, i0 + r along a column).
fn lineBest(s: Share, first: u32, step: u32, n: u32, alongRow: bool, init: Partial) -> Partial {
  var best = init;
  for (var k = s.lane; k < n; k += LANES) {
    var other: f32;
    var index: u32;
    if (alongRow) {
      other = colLse(k);
      index = k;
    } else {
      other = rowLse(p.i0 + k);
      index = p.i0 + k;
    }
    let key = 2.0 * sim[first + k * step] - other;
    if (key > best.v) { best = Partial(key, index); }
  }
  return share(s, best, ARGMAX);
}

@compute @workgroup_size(WG)
fn row_best(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let s = rowShare(wid, nwg, li);
  let r = min(s.item, p.T - 1u);
  let best = lineBest(s, r * p.S, 1u, p.S, true, Partial(-3.0e38, 0u));
  if (s.item < p.T && s.lane == 0u) {
    rowBest[2u * (p.i0 + r)] = best.i;
    rowBest[2u * (p.i0 + r) + 1u] = bitcast<u32>(confidence_at(r, best.i));
  }
}

@compute @workgroup_size(WG)
fn col_best(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let s = colShare(wid, nwg, li);
  let j = min(s.item, p.S - 1u);
  var init = Partial(-3.0e38, 0u);
  if (p.first == 0u && s.lane == 0u) {
    // The best of the earlier tiles: lower rows, so it wins ties.
    init = Partial(bitcast<f32>(colBest[2u * j + 1u]), colBest[2u * j]);
  }
  let best = lineBest(s, j, p.S, p.T, false, init);
  if (s.item < p.S && s.lane == 0u) {
    colBest[2u * j] = best.i;
    colBest[2u * j + 1u] = bitcast<u32>(best.v);
  }
}

@compute @workgroup_size(64)
fn confidence(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = flatIndex(gid, nwg, 64u); // entry (r, j) of the tile
  if (k >= p.T * p.S) { return; }
  conf[p.i0 * p.S + k] = confidence_at(k / p.S, k % p.S); // row i0 + r of the matrix
}

fn inside(t: u32, w: u32, h: u32) -> bool {
  let x = t % w;
  let y = t / w;
  return x >= p.border && y >= p.border && x + p.border < w && y + p.border < h;
}

@compute @workgroup_size(64)
fn mutual(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flatIndex(gid, nwg, 64u);
  if (i >= p.L) { return; }
  let j = rowBest[2u * i];
  let c = bitcast<f32>(rowBest[2u * i + 1u]);
  if (colBest[2u * j] != i || !(c > p.thr) || !inside(i, p.W0, p.H0) || !inside(j, p.W1, p.H1)) {
    return;
  }
  let k = atomicAdd(&matches.count, 1u);
  matches.data[3u * k] = i;
  matches.data[3u * k + 1u] = j;
  matches.data[3u * k + 2u] = bitcast<u32>(c);
}
