// GPU-parallel RANSAC for the fundamental matrix (src/geometry/ransac_gpu.ts drives it;
// src/geometry/ransac_cpu.ts and the modules it uses are the float64 reference of every step).
//
// `hypotheses`: one invocation per hypothesis h = first + i. It draws its
// minimal sample with the counter-based PCG generator keyed by (seed, h),
// solves it on Hartley-normalised coordinates in f32 (7-point: Gauss–Jordan
// null space of the 7×9 system, made orthonormal, then the real roots of
// det(F2 + α(F1 − F2)); 8-point: the null vector of the 8×9 system, made rank
// 2 — both as the float64 reference, src/geometry/fundamental_solvers.ts), drops
// models violating the oriented epipolar constraint on the sample, scores
// the rest on every match (squared Sampson distance in pixels, MAGSAC++ or
// MSAC) and writes its best model: [score, inliers, h, F(9)] (score −1 when
// the sample gave no model).
//
// Cooperation (src/gpu/gpu.ts `KernelTuning`): LANES adjacent invocations share a
// hypothesis. Each draws the same sample and solves the same models (in
// lockstep on a GPU, so no slower than one), scores every LANES-th match, and
// the lanes' sums are added in workgroup memory. "cpu" tuning: LANES 1, one
// invocation per hypothesis with a serial loop over the matches. "gpu"
// tuning: LANES 64, so a batch of 2048 hypotheses is 131 072 invocations
// rather than 2048. The scores differ by the rounding of the sums only.
//
// `reduce` (include/ransac_common.wgsl): the best record of each segment.
//
// `screen`: the short local optimisation of the best candidates
// (localOptimization() in src/geometry/local_optimization.ts with `iterations` steps), all in
// one dispatch: one workgroup of WG invocations (lanes) per candidate record.
// Each pass deals the matches among the lanes, which score the current F (as
// `hypotheses` does) and add each match's IRLS weight (MAGSAC++ weight, MSAC:
// 1 for inliers, over the squared Sampson gradient) times aaᵀ, a its
// constraint row, into the 45 entries of the weighted 9×9 normal equations;
// the lanes' sums are added in workgroup memory. Lane 0 then solves: the
// eigenvector of the smallest eigenvalue by cyclic Jacobi in f32, rank 2 by
// the same on FᵀF (F ← F − (F v) vᵀ), unit norm; the next pass scores that
// step. Lane 0 keeps a step only if it raises the score and stops at the
// first that does not, or that gains less than `converged` (relative), or
// when fewer than 8 weights are positive; its decisions reach the other lanes
// through workgroupUniformLoad, so every barrier stays in uniform control
// flow. The record's score and F are overwritten with the last kept step's.
// The normal equations are summed in the basis of a Householder reflection
// taking the current F to the last axis, where the entries along the null
// direction come from each match's residual directly (reflector()): on the
// synthetic sets of bench/ransac.ts this brings the screened scores from
// within 6e-4 to within 1e-5 of float64. Unlike `hypotheses`, `screen` has WG
// lanes under both tunings: with one lane (a single f32 running sum over all
// matches) the scores fell up to 25% short of float64 at 10,000 matches (steps
// stopped early) and another candidate won; with 64 partial sums added as a
// tree they stay within 1e-5. The lanes accumulate aaᵀ in six 3×3 blocks
// rather than a dynamically indexed 45-entry array: lavapipe computed wrong
// sums (and scores) with the array.
// Workgroup memory: WG × 47 floats (12 KiB for 64 lanes).

#include "include/ransac_common.wgsl"

// Row of the epipolar constraint x1ᵀ F x0 = 0 as a dot product with F's 9 entries (row-major).
fn constraintRow(q: vec4f) -> array<f32, 9> {
  return array<f32, 9>(q.z * q.x, q.z * q.y, q.z, q.w * q.x, q.w * q.y, q.w, q.x, q.y, 1.0);
}

// v scaled to unit length.
fn unitVector(v: array<f32, 9>) -> array<f32, 9> {
  var n = 0.0;
  for (var k = 0u; k < 9u; k++) { n += v[k] * v[k]; }
  var u = v;
  for (var k = 0u; k < 9u; k++) { u[k] /= sqrt(n); }
  return u;
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

// Real roots of c3 x³ + c2 x² + c1 x + c0 (as cubicRoots() in src/geometry/fundamental_solvers.ts); count in .w.
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

// Oriented epipolar constraint on the sample (orientationConsistent() in src/geometry/fundamental_solvers.ts).
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

// The algebraic residual x1ᵀ F x0 of a match and its squared gradient in pixels (the
// denominator of the Sampson distance).
fn sampsonParts(F: mat3x3f, q: vec4f) -> vec2f {
  let l = F * vec3f(q.xy, 1.0); // F x0
  let m = vec3f(q.zw, 1.0) * F; // Fᵀ x1
  return vec2f(dot(vec3f(q.zw, 1.0), l), p.s1sq * dot(l.xy, l.xy) + p.s0sq * dot(m.xy, m.xy));
}

// Squared Sampson distance of a match to F, pixels².
fn sampson(F: mat3x3f, q: vec4f) -> f32 {
  let s = sampsonParts(F, q);
  return s.x * s.x / s.y;
}

@compute @workgroup_size(WG)
fn hypotheses(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let at = hypothesisOf(gid, nwg);
  let idx = drawSample(at.h);

  // Constraint rows x1ᵀ F x0 = 0 over F's 9 entries; their null space by Gauss–Jordan.
  var a: array<array<f32, 9>, 8>;
  for (var r = 0u; r < M; r++) {
    a[r] = constraintRow(pts[idx[r]]);
  }
  let ns = nullBasis(a, M);
  var models: array<mat3x3f, 3>;
  var count = 0u;
  if (ns.count > 0u) {
    if (M == 8u) {
      // Rank 2 as the reference's: the raw null vector has no epipole, so the orientation
      // test kept other samples than float64's and its scores were far from theirs.
      models[0] = rank2(unitNorm(toMat(ns.vectors[0])));
      count = 1u;
    } else { // det(F2 + α G) = det G α³ + c2 α² + c1 α + det F2, G = F1 − F2
      // The basis made orthonormal (Gram–Schmidt), as the reference's SVD basis: the
      // Gauss–Jordan vectors are far from orthogonal and of very different lengths, and the
      // cubic's f32 coefficients from them lost so many digits that models had |det F| up to
      // 1e-2 and scores up to 36% off the float64 solution of the same sample.
      var basis = ns.vectors;
      basis[0] = unitVector(basis[0]);
      var along = 0.0;
      for (var k = 0u; k < 9u; k++) { along += basis[0][k] * basis[1][k]; }
      for (var k = 0u; k < 9u; k++) { basis[1][k] -= along * basis[0][k]; }
      basis[1] = unitVector(basis[1]);
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
  for (var k = 0u; k < count; k++) { models[k] = unitNorm(models[k]); }
  var valid = array<bool, 3>(false, false, false);
  for (var k = 0u; k < count; k++) { valid[k] = oriented(models[k], idx); }

  var score = vec3f(0.0);
  var inliers = vec3u(0u);
  for (var j = at.lane; j < p.n; j += LANES) {
    let q = pts[j];
    for (var k = 0u; k < count; k++) {
      if (!valid[k]) { continue; }
      let r2 = sampson(models[k], q);
      score[k] += quality(r2);
      inliers[k] += select(0u, 1u, r2 < p.thr2);
    }
  }
  sumLanes(li, li - at.lane, &score, &inliers);
  if (at.i >= p.count || at.lane != 0u) { return; }
  var bestK = 3u;
  for (var k = 0u; k < count; k++) {
    if (valid[k] && (bestK == 3u || score[k] > score[bestK])) { bestK = k; }
  }
  let o = at.i * REC;
  if (bestK == 3u) {
    hyp[o] = -1.0;
    hyp[o + 1u] = 0.0;
    hyp[o + 2u] = bitcast<f32>(at.h);
    return;
  }
  hyp[o] = score[bestK];
  hyp[o + 1u] = bitcast<f32>(inliers[bestK]);
  hyp[o + 2u] = bitcast<f32>(at.h);
  let F = toArray(models[bestK]);
  for (var k = 0u; k < 9u; k++) { hyp[o + 3u + k] = F[k]; }
}

// ---- screen: the short local optimisation of every candidate, one workgroup each

// Sums of one pass of F over the matches: the 45 entries s_rc (r ≤ c, row by row) of the
// weighted normal equations Σ w b bᵀ in the basis of reflector(F), the score, and the number of
// positive weights.
const SUMS = 47u;
const SCORE_SUM = 45u;
const USED_SUM = 46u;
// Cyclic Jacobi sweeps at most; in f32 a 9×9 matrix needs about 6 to 8.
const JACOBI_SWEEPS = 16u;

var<workgroup> wgSums: array<array<f32, SUMS>, WG>; // one row per lane; row 0 the total
var<workgroup> wgStep: mat3x3f; // the step lane 0 solved, for every lane to score
var<workgroup> wgSolved: u32; // lane 0's decisions, read through workgroupUniformLoad
var<workgroup> wgStopped: u32;

// The Householder reflection Q = I − u uᵀ (symmetric, orthogonal) that takes the unit F
// (row-major) to −σ e₉, σ the sign of F's last entry: returns u = (f + σ e₉) / √(1 + |f₉|).
// In its basis the IRLS normal equations are accumulated: a constraint row a becomes
// b = Q a, whose last entry is −σ x1ᵀ F x0, the match's residual, computed directly instead of
// as a difference of O(1) terms. The equations' smallest eigenvalue (≈ 1e-7 of the largest)
// then keeps its accuracy in f32.
fn reflector(F: mat3x3f) -> array<f32, 9> {
  var u = toArray(F);
  let sigma = select(-1.0, 1.0, u[8] >= 0.0);
  let scale = 1.0 / sqrt(1.0 + abs(u[8]));
  u[8] += sigma;
  for (var k = 0u; k < 9u; k++) { u[k] *= scale; }
  return u;
}

// Q x for the reflection Q = I − u uᵀ of reflector().
fn reflect(u: array<f32, 9>, x: array<f32, 9>) -> array<f32, 9> {
  var d = 0.0;
  for (var k = 0u; k < 9u; k++) { d += u[k] * x[k]; }
  var y = x;
  for (var k = 0u; k < 9u; k++) { y[k] -= d * u[k]; }
  return y;
}

// One pass of the unit F over the matches (evaluateModel() in src/geometry/scores.ts): lane `lane`
// takes every WG-th match; on return wgSums[0] holds the sums over all matches. Must be reached
// by every invocation of the workgroup.
fn accumulate(F: mat3x3f, lane: u32) {
  let u = reflector(F);
  let sigma = select(-1.0, 1.0, u[8] >= 0.0);
  // Σ w b bᵀ by 3×3 blocks m_IJ = Σ w b_I b_Jᵀ (I ≤ J), b_I = (b[3I], b[3I + 1], b[3I + 2]).
  var m00 = mat3x3f();
  var m01 = mat3x3f();
  var m02 = mat3x3f();
  var m11 = mat3x3f();
  var m12 = mat3x3f();
  var m22 = mat3x3f();
  var score = 0.0;
  var used = 0.0;
  for (var j = lane; j < p.n; j += WG) {
    let q = pts[j];
    let parts = sampsonParts(F, q);
    let r2 = parts.x * parts.x / parts.y;
    score += quality(r2);
    let robust = weight(r2);
    if (robust > 0.0 && parts.y > 0.0) {
      let b = reflect(u, constraintRow(q));
      let w = robust / parts.y;
      let b0 = vec3f(b[0], b[1], b[2]);
      let b1 = vec3f(b[3], b[4], b[5]);
      let b2 = vec3f(b[6], b[7], -sigma * parts.x);
      let w0 = w * b0;
      let w1 = w * b1;
      let w2 = w * b2;
      m00 += mat3x3f(w0 * b0.x, w0 * b0.y, w0 * b0.z);
      m01 += mat3x3f(w0 * b1.x, w0 * b1.y, w0 * b1.z);
      m02 += mat3x3f(w0 * b2.x, w0 * b2.y, w0 * b2.z);
      m11 += mat3x3f(w1 * b1.x, w1 * b1.y, w1 * b1.z);
      m12 += mat3x3f(w1 * b2.x, w1 * b2.y, w1 * b2.z);
      m22 += mat3x3f(w2 * b2.x, w2 * b2.y, w2 * b2.z);
      used += 1.0;
    }
  }
  let blocks = array<mat3x3f, 6>(m00, m01, m02, m11, m12, m22);
  var k = 0u;
  for (var r = 0u; r < 9u; r++) {
    for (var c = r; c < 9u; c++) {
      let I = r / 3u;
      wgSums[lane][k] = blocks[I * (5u - I) / 2u + c / 3u][c % 3u][r % 3u];
      k++;
    }
  }
  wgSums[lane][SCORE_SUM] = score;
  wgSums[lane][USED_SUM] = used;
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    workgroupBarrier();
    if (lane < half) {
      for (var k = 0u; k < SUMS; k++) { wgSums[lane][k] += wgSums[lane + half][k]; }
    }
  }
  workgroupBarrier();
}

// Unit eigenvector of the smallest eigenvalue of the symmetric n×n matrix `a` (n ≤ 9, row-major
// with row stride 9) by cyclic Jacobi rotations. An off-diagonal entry is left alone once it is
// below f32 rounding against the geometric mean of its two diagonal entries (Demmel–Veselić),
// which keeps the small eigenvalue's eigenvector accurate; the sweeps stop when none is rotated.
fn smallestEigenvector(a0: array<f32, 81>, n: u32) -> array<f32, 9> {
  var a = a0;
  var v = array<f32, 81>();
  for (var i = 0u; i < n; i++) { v[10u * i] = 1.0; }
  for (var sweep = 0u; sweep < JACOBI_SWEEPS; sweep++) {
    var rotated = false;
    for (var r = 0u; r + 1u < n; r++) {
      for (var c = r + 1u; c < n; c++) {
        let arc = a[9u * r + c];
        let arr = a[10u * r];
        let acc = a[10u * c];
        if (abs(arc) <= 1e-7 * sqrt(abs(arr * acc))) { continue; }
        rotated = true;
        // The rotation by atan(t) in the (r, c) plane that zeroes a[r][c] (the smaller root).
        let theta = (acc - arr) / (2.0 * arc);
        let t = select(-1.0, 1.0, theta >= 0.0) / (abs(theta) + sqrt(theta * theta + 1.0));
        let cs = 1.0 / sqrt(t * t + 1.0);
        let sn = t * cs;
        for (var k = 0u; k < n; k++) { // a ← a J: columns r and c
          let x = a[9u * k + r];
          let y = a[9u * k + c];
          a[9u * k + r] = cs * x - sn * y;
          a[9u * k + c] = sn * x + cs * y;
        }
        for (var k = 0u; k < n; k++) { // a ← Jᵀ a: rows r and c
          let x = a[9u * r + k];
          let y = a[9u * c + k];
          a[9u * r + k] = cs * x - sn * y;
          a[9u * c + k] = sn * x + cs * y;
        }
        for (var k = 0u; k < n; k++) { // v ← v J
          let x = v[9u * k + r];
          let y = v[9u * k + c];
          v[9u * k + r] = cs * x - sn * y;
          v[9u * k + c] = sn * x + cs * y;
        }
      }
    }
    if (!rotated) { break; }
  }
  var m = 0u;
  for (var i = 1u; i < n; i++) { if (a[10u * i] < a[10u * m]) { m = i; } }
  var e = array<f32, 9>();
  for (var i = 0u; i < n; i++) { e[i] = v[9u * i + m]; }
  return e;
}

// The IRLS step from the normal equations accumulate() summed for the unit F
// (eightPointNormalized() in src/geometry/fundamental_solvers.ts): their least-squares null vector, brought back
// from the basis of reflector(F), made rank 2 (rank2()). Unit norm.
fn solveStep(sums: array<f32, SUMS>, current: mat3x3f) -> mat3x3f {
  var ata = array<f32, 81>();
  var k = 0u;
  for (var r = 0u; r < 9u; r++) {
    for (var c = r; c < 9u; c++) {
      ata[9u * r + c] = sums[k];
      ata[9u * c + r] = sums[k];
      k++;
    }
  }
  return unitNorm(rank2(toMat(reflect(reflector(current), smallestEigenvector(ata, 9u)))));
}

// The closest rank-2 matrix to F (enforceRank2() in src/geometry/fundamental_solvers.ts):
// F − (F v) vᵀ, v the right singular vector of its smallest singular value (the eigenvector of
// FᵀF's smallest eigenvalue).
fn rank2(F: mat3x3f) -> mat3x3f {
  let g = transpose(F) * F;
  var gram = array<f32, 81>();
  for (var r = 0u; r < 3u; r++) {
    for (var c = 0u; c < 3u; c++) { gram[9u * r + c] = g[c][r]; }
  }
  let e = smallestEigenvector(gram, 3u);
  let v = vec3f(e[0], e[1], e[2]);
  let fv = F * v;
  return F - mat3x3f(fv * v.x, fv * v.y, fv * v.z);
}

@compute @workgroup_size(WG)
fn screen(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) wid: vec3u) {
  let o = wid.x * REC;
  var f0: array<f32, 9>;
  for (var k = 0u; k < 9u; k++) { f0[k] = hyp[o + 3u + k]; }
  var best = unitNorm(toMat(f0)); // lane 0's last kept step and its score
  accumulate(best, lane);
  var bestScore = wgSums[0][SCORE_SUM];
  for (var it = 0u; it < p.iterations; it++) {
    if (lane == 0u) {
      let solvable = wgSums[0][USED_SUM] >= 8.0;
      wgSolved = select(0u, 1u, solvable);
      if (solvable) { wgStep = solveStep(wgSums[0], best); }
    }
    if (workgroupUniformLoad(&wgSolved) == 0u) { break; }
    let F = wgStep;
    accumulate(F, lane);
    if (lane == 0u) {
      let s = wgSums[0][SCORE_SUM];
      var stop = !(s > bestScore);
      if (!stop) {
        stop = s - bestScore <= p.converged * abs(bestScore);
        best = F;
        bestScore = s;
      }
      wgStopped = select(0u, 1u, stop);
    }
    if (workgroupUniformLoad(&wgStopped) != 0u) { break; }
  }
  if (lane != 0u) { return; }
  hyp[o] = bestScore;
  let f = toArray(best);
  for (var k = 0u; k < 9u; k++) { hyp[o + 3u + k] = f[k]; }
}
