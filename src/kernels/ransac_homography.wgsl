// GPU-parallel RANSAC for the homography x1 ~ H x0 (src/geometry/ransac_gpu.ts drives it;
// src/geometry/homography_solvers.ts and scores.ts are the float64 reference of every step).
//
// `hypotheses`: one invocation (LANES invocations, as in ransac.wgsl) per
// hypothesis h = first + i. It draws its 4-match sample with the same
// counter-based generator as F's kernel, rejects samples with three points on
// a line or a mirrored triangle (goodHomographySample()), solves the 8×9 DLT
// system on Hartley-normalised coordinates in f32 (its null vector by
// Gauss–Jordan), scores H on every match (squared symmetric transfer error in
// pixels, MAGSAC++ or MSAC) and writes [score, inliers, h, H(9)] (score −1
// when the sample gave no model).
//
// `reduce` (include/ransac_common.wgsl): the best record of each segment.

#include "include/ransac_common.wgsl"

// The two rows of the DLT constraint x1 × (H x0) = 0 of a match, over H's 9 entries (row-major).
fn dltRow0(q: vec4f) -> array<f32, 9> {
  return array<f32, 9>(q.x, q.y, 1.0, 0.0, 0.0, 0.0, -q.z * q.x, -q.z * q.y, -q.z);
}

fn dltRow1(q: vec4f) -> array<f32, 9> {
  return array<f32, 9>(0.0, 0.0, 0.0, q.x, q.y, 1.0, -q.w * q.x, -q.w * q.y, -q.w);
}

// Twice the signed area of the triangle (a, b, c).
fn orientation(a: vec2f, b: vec2f, c: vec2f) -> f32 {
  return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
}

// No three sample points on a line in either image, every triangle of the sample with the
// same orientation in both (goodHomographySample() in src/geometry/homography_solvers.ts).
fn goodSample(idx: array<u32, 8>) -> bool {
  let triples = array<vec3u, 4>(vec3u(0u, 1u, 2u), vec3u(0u, 1u, 3u), vec3u(0u, 2u, 3u), vec3u(1u, 2u, 3u));
  for (var k = 0u; k < 4u; k++) {
    let a = pts[idx[triples[k].x]];
    let b = pts[idx[triples[k].y]];
    let c = pts[idx[triples[k].z]];
    let o0 = orientation(a.xy, b.xy, c.xy);
    let o1 = orientation(a.zw, b.zw, c.zw);
    if (!(abs(o0) > 1e-6 && abs(o1) > 1e-6) || o0 * o1 < 0.0) { return false; }
  }
  return true;
}

// H⁻¹ up to scale: the adjugate (rows are cross products of H's columns).
fn adjugate(H: mat3x3f) -> mat3x3f {
  return transpose(mat3x3f(cross(H[1], H[2]), cross(H[2], H[0]), cross(H[0], H[1])));
}

// Squared symmetric transfer error of a match, pixels² (transferAt() in src/geometry/scores.ts):
// the mean of the squared distances in image 1 (H x0 to x1) and image 0 (H⁻¹ x1 to x0); a
// point sent to infinity counts as an outlier.
fn transfer(H: mat3x3f, Hi: mat3x3f, q: vec4f) -> f32 {
  let y = H * vec3f(q.xy, 1.0);
  let z = Hi * vec3f(q.zw, 1.0);
  if (y.z == 0.0 || z.z == 0.0) { return 3.0e38; }
  let u = y.xy / y.z - q.zw;
  let v = z.xy / z.z - q.xy;
  let r2 = 0.5 * (dot(u, u) / p.s1sq + dot(v, v) / p.s0sq);
  return select(3.0e38, r2, r2 >= 0.0); // NaN → outlier
}

@compute @workgroup_size(WG)
fn hypotheses(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let at = hypothesisOf(gid, nwg);
  let idx = drawSample(at.h);

  var valid = goodSample(idx);
  var H = mat3x3f();
  if (valid) {
    var a: array<array<f32, 9>, 8>;
    for (var r = 0u; r < 4u; r++) {
      let q = pts[idx[r]];
      a[2u * r] = dltRow0(q);
      a[2u * r + 1u] = dltRow1(q);
    }
    let ns = nullBasis(a, 8u);
    valid = ns.count == 1u;
    if (valid) { H = unitNorm(toMat(ns.vectors[0])); }
  }
  let Hi = adjugate(H);

  var score = vec3f(0.0);
  var inliers = vec3u(0u);
  if (valid) {
    for (var j = at.lane; j < p.n; j += LANES) {
      let r2 = transfer(H, Hi, pts[j]);
      score.x += quality(r2);
      inliers.x += select(0u, 1u, r2 < p.thr2);
    }
  }
  sumLanes(li, li - at.lane, &score, &inliers);
  if (at.i >= p.count || at.lane != 0u) { return; }
  let o = at.i * REC;
  hyp[o] = select(-1.0, score.x, valid);
  hyp[o + 1u] = bitcast<f32>(select(0u, inliers.x, valid));
  hyp[o + 2u] = bitcast<f32>(at.h);
  let m = toArray(H);
  for (var k = 0u; k < 9u; k++) { hyp[o + 3u + k] = m[k]; }
}
