// Adds the sine positional encoding to a coarse feature map and flattens it to
// tokens: tokens[t, c] = feat[c, t] + pe[c, t] with t = y * W + x.
// The table pe [C, H·W] is computed on the host in float64 (WGSL's sin/cos
// are not accurate for the large arguments it needs).

struct Params {
  C: u32,
  L: u32, // H · W
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> feat: array<f32>;
@group(0) @binding(2) var<storage, read> pe: array<f32>;
@group(0) @binding(3) var<storage, read_write> tokens: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u; // index into [C, L]
  if (i >= p.C * p.L) { return; }
  let c = i / p.L;
  let t = i % p.L;
  tokens[t * p.C + c] = feat[i] + pe[i];
}
