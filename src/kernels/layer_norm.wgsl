// LayerNorm over the features of each token row, with an optional residual:
//   y[l] = (RESIDUAL ? r[l] : 0) + (x[l] - mean) / sqrt(var + eps) · gamma + beta
// (biased variance, as PyTorch). One invocation per row.

#include "include/grid.wgsl"

override RESIDUAL: bool = false;

struct Params {
  L: u32,
  C: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> r: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let l = flatIndex(gid, nwg, 64u);
  if (l >= p.L) { return; }
  let base = l * p.C;
  var mean = 0.0;
  for (var c = 0u; c < p.C; c++) { mean += x[base + c]; }
  mean /= f32(p.C);
  var v = 0.0;
  for (var c = 0u; c < p.C; c++) {
    let d = x[base + c] - mean;
    v += d * d;
  }
  let inv = 1.0 / sqrt(v / f32(p.C) + p.eps);
  for (var c = 0u; c < p.C; c++) {
    var out = (x[base + c] - mean) * inv * gamma[c] + beta[c];
    if (RESIDUAL) { out += r[base + c]; }
    y[base + c] = out;
  }
}
