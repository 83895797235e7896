// Coarse matching by dual softmax with mutual nearest neighbours, computed
// over row tiles of the similarity matrix so that the L×S matrix never has to
// exist whole. A tile holds rows i0 .. i0+T-1: sim[r, j] = <f0[i0+r], f1[j]> / (C·τ)
// (made by shaders/linear.wgsl). With row statistics (max, Σexp) over j and
// column statistics over i,
//   conf[i, j] = softmax_j(sim)[i, j] · softmax_i(sim)[i, j].
// Pass 1 (every tile): `row_stats`, `col_stats` (running, merged across tiles).
// Pass 2 (every tile): `row_best` (argmax_j conf), `col_best` (running argmax_i).
// Then `mutual` keeps (i, j) when both are each other's best, conf > thr and
// neither cell is within `border` cells of its grid's edge, appending it to
// `matches` with an atomic counter. Ties keep the first index, as argmax does.
// `confidence` writes a tile of conf itself (for inspection and tests).

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
@group(0) @binding(6) var<storage, read_write> conf: array<f32>; // [T, S]
@group(0) @binding(7) var<storage, read_write> matches: Matches;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * 64u;
}

fn confidence_at(r: u32, j: u32) -> f32 {
  let s = sim[r * p.S + j];
  let i = p.i0 + r;
  return exp(s - rowStats[2u * i]) / rowStats[2u * i + 1u] *
    (exp(s - colStats[2u * j]) / colStats[2u * j + 1u]);
}

@compute @workgroup_size(64)
fn row_stats(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = index(gid, nwg);
  if (r >= p.T) { return; }
  var m = -3.0e38;
  for (var j = 0u; j < p.S; j++) { m = max(m, sim[r * p.S + j]); }
  var s = 0.0;
  for (var j = 0u; j < p.S; j++) { s += exp(sim[r * p.S + j] - m); }
  rowStats[2u * (p.i0 + r)] = m;
  rowStats[2u * (p.i0 + r) + 1u] = s;
}

@compute @workgroup_size(64)
fn col_stats(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = index(gid, nwg);
  if (j >= p.S) { return; }
  var m = -3.0e38;
  for (var r = 0u; r < p.T; r++) { m = max(m, sim[r * p.S + j]); }
  var s = 0.0;
  for (var r = 0u; r < p.T; r++) { s += exp(sim[r * p.S + j] - m); }
  if (p.first == 0u) {
    // Merge with the running statistics of the earlier tiles (online softmax).
    let m0 = colStats[2u * j];
    let mm = max(m0, m);
    s = colStats[2u * j + 1u] * exp(m0 - mm) + s * exp(m - mm);
    m = mm;
  }
  colStats[2u * j] = m;
  colStats[2u * j + 1u] = s;
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

@compute @workgroup_size(64)
fn row_best(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = index(gid, nwg);
  if (r >= p.T) { return; }
  var best = -3.0e38;
  var bj = 0u;
  for (var j = 0u; j < p.S; j++) {
    let key = 2.0 * sim[r * p.S + j] - colLse(j);
    if (key > best) {
      best = key;
      bj = j;
    }
  }
  rowBest[2u * (p.i0 + r)] = bj;
  rowBest[2u * (p.i0 + r) + 1u] = bitcast<u32>(confidence_at(r, bj));
}

@compute @workgroup_size(64)
fn col_best(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = index(gid, nwg);
  if (j >= p.S) { return; }
  _ = colStats[0]; // bound by the host like row_best's inputs; unused here
  var best = -3.0e38;
  var bi = 0u;
  if (p.first == 0u) {
    bi = colBest[2u * j];
    best = bitcast<f32>(colBest[2u * j + 1u]);
  }
  for (var r = 0u; r < p.T; r++) {
    let key = 2.0 * sim[r * p.S + j] - rowLse(p.i0 + r);
    if (key > best) {
      best = key;
      bi = p.i0 + r;
    }
  }
  colBest[2u * j] = bi;
  colBest[2u * j + 1u] = bitcast<u32>(best);
}

@compute @workgroup_size(64)
fn confidence(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = index(gid, nwg);
  if (k >= p.T * p.S) { return; }
  conf[k] = confidence_at(k / p.S, k % p.S);
}

fn inside(t: u32, w: u32, h: u32) -> bool {
  let x = t % w;
  let y = t / w;
  return x >= p.border && y >= p.border && x + p.border < w && y + p.border < h;
}

@compute @workgroup_size(64)
fn mutual(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
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
