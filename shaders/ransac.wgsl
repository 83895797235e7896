// GPU-parallel RANSAC for the fundamental matrix (src/ransac.ts drives it;
// src/fundamental.ts is the float64 reference of every step).
//
// `hypotheses`: one invocation per hypothesis h = first + i. It draws its
// minimal sample with the counter-based PCG generator keyed by (seed, h),
// solves it on Hartley-normalised coordinates in f32 (7-point: Gauss–Jordan
// null space of the 7×9 system, then the real roots of det(F2 + α(F1 − F2));
// 8-point: the null vector of the 8×9 system, rank not enforced), drops
// models violating the oriented epipolar constraint on the sample, scores
// the rest on every match (squared Sampson distance in pixels, MAGSAC++ or
// MSAC) and writes its best model: [score, inliers, h, F(9)] (score −1 when
// the sample gave no model).
//
// Cooperation (src/gpu.ts `KernelTuning`): LANES adjacent invocations share a
// hypothesis. Each draws the same sample and solves the same models (in
// lockstep on a GPU, so no slower than one), scores every LANES-th match, and
// the lanes' sums are added in workgroup memory. "cpu" tuning: LANES 1, one
// invocation per hypothesis with a serial loop over the matches. "gpu"
// tuning: LANES 64, so a batch of 2048 hypotheses is 131 072 invocations
// rather than 2048. The scores differ by the rounding of the sums only.
//
// `reduce`: one workgroup per segment of the batch; writes the segment's best
// record (highest score, then lowest h) to `best`.

override M: u32 = 7u; // sample size: 7 = 7-point solver, 8 = normalised 8-point
override SCORE: u32 = 0u; // 0 MAGSAC++, 1 MSAC
override WG: u32 = 64u;
override LANES: u32 = 1u; // invocations per hypothesis, a power of two dividing WG

struct Params {
  n: u32, // matches
  first: u32, // index of the batch's first hypothesis
  count: u32, // hypotheses in the batch
  seed: u32,
  segment: u32, // hypotheses per segment (reduce)
  s0sq: f32, // squared Hartley scales of image 0 and 1: Sampson distance in pixels
  s1sq: f32,
  thr2: f32, // squared inlier threshold, px²
  max2: f32, // squared MAGSAC++ maximum threshold, px²
  uk: f32, // MAGSAC++ k²/2
  gammaK: f32, // Γ(3/2, k²/2)
  lossMax: f32, // γ(5/2, k²/2)
}

@group(0) @binding(0) var<uniform> p: Params;
// Entry `hypotheses` binds (pts, hyp), entry `reduce` binds (records, best).
@group(0) @binding(1) var<storage, read> pts: array<vec4f>; // normalised x0, y0, x1, y1
@group(0) @binding(2) var<storage, read_write> hyp: array<f32>; // count × 12
@group(0) @binding(1) var<storage, read> records: array<f32>; // = hyp
@group(0) @binding(2) var<storage, read_write> best: array<f32>; // segments × 12

const REC = 12u;

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// Same draw as drawSample() in src/fundamental.ts.
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

// F (row-major, 9 floats) as a WGSL matrix whose columns are F's columns.
fn toMat(f: array<f32, 9>) -> mat3x3f {
  return mat3x3f(f[0], f[3], f[6], f[1], f[4], f[7], f[2], f[5], f[8]);
}

// det of the matrix whose column c comes from g when bit c of mask is set, else from h.
fn mixedDet(h: mat3x3f, g: mat3x3f, mask: u32) -> f32 {
  return determinant(mat3x3f(
    select(h[0], g[0], (mask & 1u) != 0u),
    select(h[1], g[1], (mask & 2u) != 0u),
    select(h[2], g[2], (mask & 4u) != 0u),
  ));
}

fn newton(x0: f32, c3: f32, c2: f32, c1: f32, c0: f32) -> f32 {
  var x = x0;
  for (var k = 0; k < 2; k++) {
    let f = ((c3 * x + c2) * x + c1) * x + c0;
    let df = (3.0 * c3 * x + 2.0 * c2) * x + c1;
    if (df != 0.0) { x -= f / df; }
  }
  return x;
}

// Real roots of c3 x³ + c2 x² + c1 x + c0 (as cubicRoots() in src/fundamental.ts); count in .w.
fn cubicRoots(c3: f32, c2: f32, c1: f32, c0: f32) -> vec4f {
  let scale = max(max(abs(c3), abs(c2)), max(abs(c1), abs(c0)));
  if (scale == 0.0) { return vec4f(0.0); }
  var r = vec4f(0.0);
  if (abs(c3) < 1e-6 * scale) {
    if (abs(c2) < 1e-6 * scale) {
      if (abs(c1) < 1e-6 * scale) { return vec4f(0.0); }
      return vec4f(-c0 / c1, 0.0, 0.0, 1.0);
    }
    let disc = c1 * c1 - 4.0 * c2 * c0;
    if (disc < 0.0) { return vec4f(0.0); }
    let q = -0.5 * (c1 + select(-1.0, 1.0, c1 >= 0.0) * sqrt(disc));
    if (q == 0.0) { return vec4f(0.0, 0.0, 0.0, 1.0); }
    r = vec4f(q / c2, c0 / q, 0.0, 2.0);
  } else {
    let a = c2 / c3;
    let b = c1 / c3;
    let c = c0 / c3;
    let Q = (a * a - 3.0 * b) / 9.0;
    let R = (2.0 * a * a * a - 9.0 * a * b + 27.0 * c) / 54.0;
    if (R * R < Q * Q * Q) {
      let theta = acos(clamp(R / sqrt(Q * Q * Q), -1.0, 1.0));
      let s = -2.0 * sqrt(Q);
      let tau = 6.283185307179586;
      r = vec4f(
        s * cos(theta / 3.0) - a / 3.0,
        s * cos((theta + tau) / 3.0) - a / 3.0,
        s * cos((theta - tau) / 3.0) - a / 3.0,
        3.0,
      );
    } else {
      let A = -select(-1.0, 1.0, R >= 0.0) * pow(abs(R) + sqrt(R * R - Q * Q * Q), 1.0 / 3.0);
      r = vec4f(A + select(Q / A, 0.0, A == 0.0) - a / 3.0, 0.0, 0.0, 1.0);
    }
  }
  for (var k = 0u; k < u32(r.w); k++) { r[k] = newton(r[k], c3, c2, c1, c0); }
  return r;
}

// Oriented epipolar constraint on the sample (orientationConsistent() in src/fundamental.ts).
fn oriented(F: mat3x3f, idx: array<u32, 8>) -> bool {
  var e = vec3f(0.0);
  var bestNorm = -1.0;
  let pairs = array<vec2u, 3>(vec2u(0u, 1u), vec2u(0u, 2u), vec2u(1u, 2u));
  for (var k = 0u; k < 3u; k++) {
    let c = cross(F[pairs[k].x], F[pairs[k].y]); // e1 ⟂ every column of F
    let nrm = dot(c, c);
    if (nrm > bestNorm) { bestNorm = nrm; e = c; }
  }
  var sgn = 0.0;
  for (var k = 0u; k < M; k++) {
    let q = pts[idx[k]];
    let l = F * vec3f(q.x, q.y, 1.0);
    let s = dot(cross(e, vec3f(q.z, q.w, 1.0)), l);
    if (sgn == 0.0) { sgn = sign(s); } else if (s * sgn < 0.0) { return false; }
  }
  return true;
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

fn sampson(F: mat3x3f, q: vec4f) -> f32 {
  let l = F * vec3f(q.xy, 1.0); // F x0
  let m = vec3f(q.zw, 1.0) * F; // Fᵀ x1
  let r = dot(vec3f(q.zw, 1.0), l);
  return r * r / (p.s1sq * dot(l.xy, l.xy) + p.s0sq * dot(m.xy, m.xy));
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

@compute @workgroup_size(WG)
fn hypotheses(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let flat = gid.x + gid.y * nwg.x * WG; // the grid folds into y past 65 535 workgroups
  let i = flat / LANES;
  let lane = flat % LANES;
  // Past the batch, lanes still reach sumLanes' barriers: they redo the last hypothesis.
  let h = p.first + min(i, p.count - 1u);
  let idx = drawSample(h);

  // Constraint rows x1ᵀ F x0 = 0 over F's 9 entries, then Gauss–Jordan with partial pivoting.
  var a: array<array<f32, 9>, 8>;
  for (var r = 0u; r < M; r++) {
    let q = pts[idx[r]];
    a[r] = array<f32, 9>(q.z * q.x, q.z * q.y, q.z, q.w * q.x, q.w * q.y, q.w, q.x, q.y, 1.0);
  }
  var pivotCol: array<u32, 8>;
  var isPivot: array<bool, 9>;
  var rank = 0u;
  for (var c = 0u; c < 9u && rank < M; c++) {
    var pr = rank;
    for (var r = rank + 1u; r < M; r++) { if (abs(a[r][c]) > abs(a[pr][c])) { pr = r; } }
    // Rows are O(1) on normalised coordinates; below 1e-5 the column is numerically dependent.
    if (abs(a[pr][c]) < 1e-5) { continue; }
    let inv = 1.0 / a[pr][c];
    for (var k = 0u; k < 9u; k++) { // swap rows pr and rank, scaling the pivot row
      let t = a[pr][k];
      a[pr][k] = a[rank][k];
      a[rank][k] = t * inv;
    }
    for (var r = 0u; r < M; r++) {
      if (r == rank) { continue; }
      let f = a[r][c];
      for (var k = 0u; k < 9u; k++) { a[r][k] -= f * a[rank][k]; }
    }
    pivotCol[rank] = c;
    isPivot[c] = true;
    rank++;
  }

  var models: array<mat3x3f, 3>;
  var count = 0u;
  if (rank == M) {
    // Null-space basis: one vector per free column f (v[f] = 1, v[pivot of row r] = −a[r][f]).
    var basis: array<array<f32, 9>, 2>;
    var nb = 0u;
    for (var f = 0u; f < 9u; f++) {
      if (isPivot[f]) { continue; }
      // Explicit zeros: a `var` declared in a loop is not re-zeroed per iteration on every backend.
      var v = array<f32, 9>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
      v[f] = 1.0;
      for (var r = 0u; r < M; r++) { v[pivotCol[r]] = -a[r][f]; }
      basis[nb] = v;
      nb++;
    }
    if (M == 8u) {
      models[0] = toMat(basis[0]);
      count = 1u;
    } else { // det(F2 + α G) = det G α³ + c2 α² + c1 α + det F2, G = F1 − F2
      let f1 = toMat(basis[0]);
      let f2 = toMat(basis[1]);
      let g = f1 - f2;
      let c1 = mixedDet(f2, g, 1u) + mixedDet(f2, g, 2u) + mixedDet(f2, g, 4u);
      let c2 = mixedDet(f2, g, 6u) + mixedDet(f2, g, 5u) + mixedDet(f2, g, 3u);
      let roots = cubicRoots(determinant(g), c2, c1, determinant(f2));
      for (var k = 0u; k < u32(roots.w); k++) {
        models[count] = f2 + roots[k] * g;
        count++;
      }
    }
  }
  for (var k = 0u; k < count; k++) { // unit Frobenius norm (f32 range)
    let F = models[k];
    models[k] = F * (1.0 / sqrt(dot(F[0], F[0]) + dot(F[1], F[1]) + dot(F[2], F[2])));
  }
  var valid = array<bool, 3>(false, false, false);
  for (var k = 0u; k < count; k++) { valid[k] = oriented(models[k], idx); }

  var score = vec3f(0.0);
  var inliers = vec3u(0u);
  for (var j = lane; j < p.n; j += LANES) {
    let q = pts[j];
    for (var k = 0u; k < count; k++) {
      if (!valid[k]) { continue; }
      let r2 = sampson(models[k], q);
      score[k] += quality(r2);
      inliers[k] += select(0u, 1u, r2 < p.thr2);
    }
  }
  sumLanes(li, li - lane, &score, &inliers);
  if (i >= p.count || lane != 0u) { return; }
  var bestK = 3u;
  for (var k = 0u; k < count; k++) {
    if (valid[k] && (bestK == 3u || score[k] > score[bestK])) { bestK = k; }
  }
  let o = i * REC;
  if (bestK == 3u) {
    hyp[o] = -1.0;
    hyp[o + 1u] = 0.0;
    hyp[o + 2u] = bitcast<f32>(h);
    return;
  }
  hyp[o] = score[bestK];
  hyp[o + 1u] = bitcast<f32>(inliers[bestK]);
  hyp[o + 2u] = bitcast<f32>(h);
  let F = models[bestK];
  for (var r = 0u; r < 3u; r++) {
    for (var c = 0u; c < 3u; c++) { hyp[o + 3u + 3u * r + c] = F[c][r]; }
  }
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
