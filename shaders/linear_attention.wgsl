// Linear attention (Katharopoulos et al., as in LoFTR) over a batch of B
// independent sequences (B = 1 for the coarse stage, one per match for the
// fine windows). Per sequence b and head h of width D:
//   KV[b,h] = Σ_s K[s]ᵀ (v[s] / S)                      entry point `kv_sum`
//   Ksum[b,h] = Σ_s K[s]
//   msg[l] = (Q[l] · KV[b,h]) / (Q[l] · Ksum[b,h] + 1e-6) · S   entry point `attend`
// Q = elu(q) + 1 and K = elu(k) + 1 come from the projections
// (shaders/linear.wgsl, ACT = 2). Rows are tokens [B·len, C], head h =
// channels h·D .. h·D + D - 1. `kv` is [B, H, D, D + 1]: column D holds Ksum.

struct Params {
  rows: u32, // rows of `a` per sequence: S (kv_sum) or L (attend)
  C: u32,
  D: u32,
  S: u32, // source length
  B: u32, // number of sequences
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>; // kv_sum: K [B·S, C]; attend: Q [B·L, C]
@group(0) @binding(2) var<storage, read> b: array<f32>; // kv_sum: v [B·S, C]; attend: kv
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // kv_sum: kv; attend: msg [B·L, C]

@compute @workgroup_size(64)
fn kv_sum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u; // index into kv
  let D1 = p.D + 1u;
  let perSeq = p.C * D1; // H · D · (D + 1)
  if (i >= p.B * perSeq) { return; }
  let seq = i / perSeq;
  let h = (i % perSeq) / (p.D * D1);
  let d1 = (i / D1) % p.D;
  let d2 = i % D1;
  let kc = h * p.D + d1;
  let vc = h * p.D + d2;
  let first = seq * p.rows;
  let invS = 1.0 / f32(p.S);
  var acc = 0.0;
  if (d2 == p.D) {
    for (var s = first; s < first + p.rows; s++) { acc += a[s * p.C + kc]; }
  } else {
    for (var s = first; s < first + p.rows; s++) { acc += a[s * p.C + kc] * (b[s * p.C + vc] * invS); }
  }
  out[i] = acc;
}

@compute @workgroup_size(64)
fn attend(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u; // index into msg
  if (i >= p.B * p.rows * p.C) { return; }
  let l = i / p.C;
  let c = i % p.C;
  let h = c / p.D;
  let d = c % p.D;
  let D1 = p.D + 1u;
  let kvBase = (l / p.rows) * p.C * D1;
  var num = 0.0;
  var den = 0.0;
  for (var k = 0u; k < p.D; k++) {
    let q = a[l * p.C + h * p.D + k];
    let row = kvBase + (h * p.D + k) * D1;
    num += q * b[row + d];
    den += q * b[row + p.D];
  }
  out[i] = num / (den + 1e-6) * f32(p.S);
}
