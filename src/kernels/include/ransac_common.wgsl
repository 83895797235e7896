// What the RANSAC kernels of every model share (kernels/ransac.wgsl for F,
// kernels/ransac_homography.wgsl for H; src/kernels/ransac.ts dispatches them):
// the uniforms and bindings, the record layout, the counter-based sample draw,
// matrix helpers, the null space of a minimal system, the MAGSAC++ and MSAC
// losses, the lanes' sums, and the `reduce` entry point.
//
// `reduce`: one workgroup per segment of the batch; writes the segment's best
// record (highest score, then lowest h) to `best`.

#include "grid.wgsl"

override M: u32 = 7u; // sample size: 4 (homography DLT), 7 (7-point F), 8 (normalised 8-point F)
override SCORE: u32 = 0u; // 0 MAGSAC++, 1 MSAC
override WG: u32 = 64u;
override LANES: u32 = 1u; // invocations per hypothesis, a power of two dividing WG

struct Params {
  n: u32, // matches
  first: u32, // index of the batch's first hypothesis
  count: u32, // hypotheses in the batch
  seed: u32,
  segment: u32, // hypotheses per segment (reduce)
  iterations: u32, // most local-optimisation steps per candidate (screen)
  s0sq: f32, // squared Hartley scales of image 0 and 1: errors in pixels
  s1sq: f32,
  thr2: f32, // squared inlier threshold, px²
  max2: f32, // squared MAGSAC++ maximum threshold, px²
  uk: f32, // MAGSAC++ k²/2
  gammaK: f32, // Γ(3/2, k²/2)
  lossMax: f32, // γ(5/2, k²/2)
  converged: f32, // relative score gain under which the local optimisation stops (screen)
}

@group(0) @binding(0) var<uniform> p: Params;
// Entries `hypotheses` and `screen` bind (pts, hyp), entry `reduce` binds (records, best).
@group(0) @binding(1) var<storage, read> pts: array<vec4f>; // normalised x0, y0, x1, y1
@group(0) @binding(2) var<storage, read_write> hyp: array<f32>; // count × REC
@group(0) @binding(1) var<storage, read> records: array<f32>; // = hyp
@group(0) @binding(2) var<storage, read_write> best: array<f32>; // segments × 12

const REC = 12u; // floats per record: score, inliers (u32 bits), h (u32 bits), model (9, row-major)

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// Same draw as drawSample() in src/geometry/sampling.ts.
fn drawSample(h: u32) -> array<u32, 8> {
  var idx: array<u32, 8>;
  let key = pcg(p.seed ^ pcg(h));
  var c = 0u;
  for (var j = 0u; j < M; j++) {
    loop {
      let v = pcg(key + c) % p.n;
      c++;
      var repeat = false;
      for (var k = 0u; k < j; k++) { repeat = repeat || idx[k] == v; }
      if (!repeat) { idx[j] = v; break; }
    }
  }
  return idx;
}

// A model (row-major, 9 floats) as a WGSL matrix whose columns are its columns.
fn toMat(f: array<f32, 9>) -> mat3x3f {
  return mat3x3f(f[0], f[3], f[6], f[1], f[4], f[7], f[2], f[5], f[8]);
}

// A model's 9 entries, row-major (the inverse of toMat).
fn toArray(F: mat3x3f) -> array<f32, 9> {
  return array<f32, 9>(F[0].x, F[1].x, F[2].x, F[0].y, F[1].y, F[2].y, F[0].z, F[1].z, F[2].z);
}

// A model scaled to unit Frobenius norm (keeps f32 range).
fn unitNorm(F: mat3x3f) -> mat3x3f {
  return F * (1.0 / sqrt(dot(F[0], F[0]) + dot(F[1], F[1]) + dot(F[2], F[2])));
}

// A null-space basis of the first `rows` rows of `a` (a rows × 9 system) by Gauss–Jordan
// elimination with partial pivoting: one vector per free column f (v[f] = 1, v[pivot of row
// r] = −a[r][f]) when the rank is `rows`, none otherwise (a degenerate sample); rows ≥ 7, so
// at most 2.
struct NullBasis {
  vectors: array<array<f32, 9>, 2>,
  count: u32,
}

fn nullBasis(a0: array<array<f32, 9>, 8>, rows: u32) -> NullBasis {
  var a = a0;
  var pivotCol: array<u32, 8>;
  var isPivot: array<bool, 9>;
  var rank = 0u;
  for (var c = 0u; c < 9u && rank < rows; c++) {
    var pr = rank;
    for (var r = rank + 1u; r < rows; r++) { if (abs(a[r][c]) > abs(a[pr][c])) { pr = r; } }
    // Rows are O(1) on normalised coordinates; below 1e-5 the column is numerically dependent.
    if (abs(a[pr][c]) < 1e-5) { continue; }
    let inv = 1.0 / a[pr][c];
    for (var k = 0u; k < 9u; k++) { // swap rows pr and rank, scaling the pivot row
      let t = a[pr][k];
      a[pr][k] = a[rank][k];
      a[rank][k] = t * inv;
    }
    for (var r = 0u; r < rows; r++) {
      if (r == rank) { continue; }
      let f = a[r][c];
      for (var k = 0u; k < 9u; k++) { a[r][k] -= f * a[rank][k]; }
    }
    pivotCol[rank] = c;
    isPivot[c] = true;
    rank++;
  }
  var out: NullBasis;
  if (rank == rows) {
    for (var f = 0u; f < 9u; f++) {
      if (isPivot[f]) { continue; }
      // Explicit zeros: a `var` declared in a loop is not re-zeroed per iteration on every backend.
      var v = array<f32, 9>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
      v[f] = 1.0;
      for (var r = 0u; r < rows; r++) { v[pivotCol[r]] = -a[r][f]; }
      out.vectors[out.count] = v;
      out.count++;
    }
  }
  return out;
}

fn erfc(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * x);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return poly * exp(-x * x);
}

fn upperGamma15(u: f32) -> f32 {
  let s = sqrt(u);
  return s * exp(-u) + 0.886226925452758 * erfc(s);
}

fn quality(r2: f32) -> f32 {
  if (SCORE == 1u) { return max(0.0, 1.0 - r2 / p.thr2); }
  if (!(r2 < p.max2)) { return 0.0; }
  let u = r2 * p.uk / p.max2;
  let g15 = upperGamma15(u);
  let lower25 = 1.329340388179137 - 1.5 * g15 - u * sqrt(u) * exp(-u);
  return 1.0 - (lower25 + u * (g15 - p.gammaK)) / p.lossMax;
}

// MAGSAC++ IRLS weight of a match (magsacWeight() in src/geometry/scores.ts: 1 at r = 0, 0 from
// the maximum threshold on); MSAC: 1 for inliers.
fn weight(r2: f32) -> f32 {
  if (SCORE == 1u) { return select(0.0, 1.0, r2 < p.thr2); }
  if (!(r2 < p.max2)) { return 0.0; }
  return (upperGamma15(r2 * p.uk / p.max2) - p.gammaK) / (0.886226925452758 - p.gammaK);
}

// The hypothesis an invocation of `hypotheses` works on: its place in the batch (i), its lane,
// and its index h. Past the batch, lanes still reach sumLanes' barriers: they redo the last
// hypothesis.
struct Hypothesis {
  i: u32,
  lane: u32,
  h: u32,
}

fn hypothesisOf(gid: vec3u, nwg: vec3u) -> Hypothesis {
  let flat = flatIndex(gid, nwg, WG);
  let i = flat / LANES;
  return Hypothesis(i, flat % LANES, p.first + min(i, p.count - 1u));
}

// Partial scores and inlier counts of the (up to 3) models, one per invocation.
var<workgroup> laneScore: array<vec3f, WG>;
var<workgroup> laneInliers: array<vec3u, WG>;

// Adds the partial scores and counts of the LANES invocations sharing a
// hypothesis (lane 0 at local index `first`); every lane gets the sums. Must
// be reached by every invocation of the workgroup when LANES > 1.
fn sumLanes(li: u32, first: u32, score: ptr<function, vec3f>, inliers: ptr<function, vec3u>) {
  if (LANES == 1u) { return; }
  laneScore[li] = *score;
  laneInliers[li] = *inliers;
  for (var step = LANES / 2u; step > 0u; step /= 2u) {
    workgroupBarrier();
    if (li - first < step) {
      laneScore[li] += laneScore[li + step];
      laneInliers[li] += laneInliers[li + step];
    }
  }
  workgroupBarrier();
  *score = laneScore[first];
  *inliers = laneInliers[first];
}

var<workgroup> wgScore: array<f32, WG>;
var<workgroup> wgIndex: array<u32, WG>;

@compute @workgroup_size(WG)
fn reduce(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let start = wid.x * p.segment;
  let end = min(start + p.segment, p.count);
  var bs = -2.0;
  var bi = 0xffffffffu;
  // Strided scan: hypotheses are visited in increasing order per thread, so ">" keeps the
  // lowest index among equal scores; the tree below breaks ties by index too.
  for (var i = start + lid.x; i < end; i += WG) {
    let s = records[i * REC];
    if (s > bs) { bs = s; bi = i; }
  }
  wgScore[lid.x] = bs;
  wgIndex[lid.x] = bi;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) {
      let s = wgScore[lid.x + stride];
      let j = wgIndex[lid.x + stride];
      if (s > wgScore[lid.x] || (s == wgScore[lid.x] && j < wgIndex[lid.x])) {
        wgScore[lid.x] = s;
        wgIndex[lid.x] = j;
      }
    }
    workgroupBarrier();
  }
  // Every hypothesis has a record (score ≥ −1 > −2), so wgIndex[0] is one of the segment's.
  if (lid.x < REC) { best[wid.x * REC + lid.x] = records[wgIndex[0] * REC + lid.x]; }
}
