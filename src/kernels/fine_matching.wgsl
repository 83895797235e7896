// Fine matching: for each match m of a batch of slots first .. first + slots - 1
// (see fine_windows.wgsl), the heatmap of its image-0 window centre
// against the 25 positions of its image-1 window,
//   heat[m, r] = softmax_r( <f0[m, centre], f1[m, r]> / √C ),
// its expectation on the normalised grid g_r = (-1 + 2·dx/(W-1), -1 + 2·dy/(W-1))
// and the spread std = √max(var_x, 1e-10) + √max(var_y, 1e-10).
// Writes rows first + m of heatmap [capacity, W²] and refined [capacity, 3] =
// (e_x, e_y, std) for the live matches only (the caller zeroes them first).

#include "include/grid.wgsl"

struct Params {
  first: u32,
  slots: u32,
  C: u32,
  W: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> matches: array<u32>;
@group(0) @binding(2) var<storage, read> f0: array<f32>; // [slots·W², C]
@group(0) @binding(3) var<storage, read> f1: array<f32>;
@group(0) @binding(4) var<storage, read_write> heatmap: array<f32>; // [capacity, W²]
@group(0) @binding(5) var<storage, read_write> refined: array<f32>; // [capacity, 3]

@compute @workgroup_size(64)
fn expectation(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let m = flatIndex(gid, nwg, 64u); // slot in the batch: rows of f0, f1
  let out = p.first + m; // slot in the match list: rows of heatmap, refined
  if (m >= p.slots || out >= matches[0]) { return; }
  let ww = p.W * p.W;
  let centre = (m * ww + ww / 2u) * p.C;
  let scale = 1.0 / sqrt(f32(p.C));
  var top = -3.0e38;
  for (var r = 0u; r < ww; r++) {
    var dot = 0.0;
    let base = (m * ww + r) * p.C;
    for (var c = 0u; c < p.C; c++) { dot += f0[centre + c] * f1[base + c]; }
    let logit = dot * scale;
    heatmap[out * ww + r] = logit;
    top = max(top, logit);
  }
  var sum = 0.0;
  for (var r = 0u; r < ww; r++) {
    let e = exp(heatmap[out * ww + r] - top);
    heatmap[out * ww + r] = e;
    sum += e;
  }
  var ex = 0.0;
  var ey = 0.0;
  var ex2 = 0.0;
  var ey2 = 0.0;
  let step = 2.0 / f32(p.W - 1u);
  for (var r = 0u; r < ww; r++) {
    let h = heatmap[out * ww + r] / sum;
    heatmap[out * ww + r] = h;
    let gx = -1.0 + step * f32(r % p.W);
    let gy = -1.0 + step * f32(r / p.W);
    ex += h * gx;
    ey += h * gy;
    ex2 += h * gx * gx;
    ey2 += h * gy * gy;
  }
  refined[3u * out] = ex;
  refined[3u * out + 1u] = ey;
  refined[3u * out + 2u] = sqrt(max(ex2 - ex * ex, 1e-10)) + sqrt(max(ey2 - ey * ey, 1e-10));
}
