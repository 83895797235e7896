// Element-type conversion between f32 and the storage element type `elem`
// (f16 in the f16 variant, src/gpu/gpu.ts; in the f32 variant both entry points
// are plain copies): `to_f32` widens (exact), `from_f32` rounds to `elem`.
// One element per invocation, over a 1-D grid folded into y (`grid()` in
// src/gpu/gpu.ts).

#include "include/grid.wgsl"

alias elem = f32;

const WG = 256u;

struct Params {
  n: u32, // elements
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> narrow: array<elem>; // to_f32: source
@group(0) @binding(2) var<storage, read_write> wide: array<f32>; // to_f32: destination
@group(0) @binding(1) var<storage, read> wide_in: array<f32>; // from_f32: source
@group(0) @binding(2) var<storage, read_write> narrow_out: array<elem>; // from_f32: destination

@compute @workgroup_size(WG)
fn to_f32(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flatIndex(gid, nwg, WG);
  if (i < p.n) { wide[i] = f32(narrow[i]); }
}

@compute @workgroup_size(WG)
fn from_f32(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flatIndex(gid, nwg, WG);
  if (i < p.n) { narrow_out[i] = elem(wide_in[i]); }
}
