// Adds the sine positional encoding to a coarse feature map and flattens it to
// tokens: tokens[t, c] = feat[c, t] + pe[c, y, x] with t = y * W + x.
// The encoding is separable (src/model/position_encoding.ts): channel 4k + j is
// sin or cos of x·d_k (j = 0, 1) or of y·d_k (j = 2, 3), read from the axis
// tables `axes` = x table [C/2, W] then y table [C/2, H], computed on the
// host in float64 (WGSL's sin/cos are not accurate for the large arguments
// they need).

#include "include/grid.wgsl"

struct Params {
  C: u32,
  H: u32,
  W: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> feat: array<f32>;
@group(0) @binding(2) var<storage, read> axes: array<f32>;
@group(0) @binding(3) var<storage, read_write> tokens: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let L = p.H * p.W;
  let i = flatIndex(gid, nwg, 64u); // index into [C, L]
  if (i >= p.C * L) { return; }
  let c = i / L;
  let t = i % L;
  let row = 2u * (c / 4u) + c % 2u; // row of the axis table: sin, then cos, of group c / 4
  var pe: f32;
  if (c % 4u < 2u) {
    pe = axes[row * p.W + t % p.W];
  } else {
    pe = axes[p.C / 2u * p.W + row * p.H + t / p.W];
  }
  tokens[t * p.C + c] = feat[i] + pe;
}
