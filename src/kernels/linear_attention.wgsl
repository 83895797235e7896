// Linear attention (Katharopoulos et al., as in LoFTR) over a batch of B
// independent sequences (B = 1 for the coarse stage, one per match for the
// fine windows). Per sequence b and head h of width D:
//   KV[b,h] = Σ_s K[s]ᵀ (v[s] / S)                      entry point `kv_sum`
//   Ksum[b,h] = Σ_s K[s]
//   msg[l] = (Q[l] · KV[b,h]) / (Q[l] · Ksum[b,h] + 1e-6) · S   entry point `attend`
// Q = elu(q) + 1 and K = elu(k) + 1 come from the projections
// (linear.wgsl with ACT_ELU1). Rows are tokens [B·len, C], head h =
// channels h·D .. h·D + D - 1.
//
// `kv` ([B, H, D, D + 1] elements as src/kernels/linear_attention.ts allocates it) is
// stored transposed, [B, H, D + 1, D]: row e < D holds column e of KV, i.e.
// KV[·, e] over the D key channels, and row D holds Ksum. So `attend` reads
// Q[l]'s head slice and two kv rows as contiguous vec4s when D is a multiple
// of 4 (each output is then 3·D/4 vec4 loads; lavapipe's cost is the loads),
// and falls back to scalar loads otherwise. Every buffer is bound as vec4
// (src/gpu/gpu.ts makes buffers 16-byte multiples); `get` reads one element.
//
// Long sequences on a GPU ("gpu" kernel tuning, src/kernels/linear_attention.ts): one
// invocation per kv entry would leave a GPU nearly idle on the coarse stage
// (8 448 entries, each a serial sum over 4 800 tokens), so `kv_sum` sums
// chunks of `chunk` tokens into partial kv blocks, [chunks, B, H, D + 1, D],
// and `kv_total` adds the chunks. With one chunk (the "cpu" tuning, and short
// sequences) `kv_sum` writes kv itself and `kv_total` is not run.

#include "include/grid.wgsl"

struct Params {
  rows: u32, // rows of `a` per sequence: S (kv_sum) or L (attend)
  C: u32,
  D: u32,
  S: u32, // source length
  B: u32, // number of sequences
  chunk: u32, // kv_sum: tokens per chunk (≥ rows: one chunk); kv_total: number of chunks
}

@group(0) @binding(0) var<uniform> p: Params;
// kv_sum: K [B·S, C]; attend: Q [B·L, C]; kv_total: the partial kv blocks
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>; // kv_sum: v [B·S, C]; attend: kv
// kv_sum: kv or its partial blocks; attend: msg [B·L, C]; kv_total: kv
@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;

fn getA(e: u32) -> f32 {
  return a[e / 4u][e % 4u];
}

fn getB(e: u32) -> f32 {
  return b[e / 4u][e % 4u];
}

fn put(e: u32, v: f32) {
  out[e / 4u][e % 4u] = v;
}

@compute @workgroup_size(64)
fn kv_sum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let D1 = p.D + 1u;
  let perSeq = p.C * D1; // H · (D + 1) · D
  let flat = flatIndex(gid, nwg, 64u); // index into [chunks, B, H, D + 1, D]
  let i = flat % (p.B * perSeq); // index into kv, [B, H, D + 1, D]
  let first = (flat / (p.B * perSeq)) * p.chunk; // the chunk's first token in its sequence
  if (first >= p.rows) { return; }
  let seq = i / perSeq;
  let h = (i % perSeq) / (D1 * p.D);
  let e = (i / p.D) % D1; // value channel, or D for Ksum
  let kc = h * p.D + i % p.D;
  let vc = h * p.D + min(e, p.D - 1u);
  let isSum = e == p.D;
  let invS = 1.0 / f32(p.S);
  var acc = 0.0;
  for (var s = seq * p.rows + first; s < seq * p.rows + min(first + p.chunk, p.rows); s++) {
    acc += getA(s * p.C + kc) * select(getB(s * p.C + vc) * invS, 1.0, isSum);
  }
  put(flat, acc);
}

@compute @workgroup_size(64)
fn kv_total(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flatIndex(gid, nwg, 64u); // index into kv
  let total = p.B * p.C * (p.D + 1u);
  if (i >= total) { return; }
  var acc = 0.0;
  for (var c = 0u; c < p.chunk; c++) { acc += getA(c * total + i); }
  put(i, acc);
}

@compute @workgroup_size(64)
fn attend(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flatIndex(gid, nwg, 64u); // index into msg
  if (i >= p.B * p.rows * p.C) { return; }
  let l = i / p.C;
  let c = i % p.C;
  let h = c / p.D;
  let d = c % p.D;
  let q0 = l * p.C + h * p.D; // Q[l, h·D ..]
  let kv0 = ((l / p.rows) * p.C / p.D + h) * (p.D + 1u) * p.D; // kv[seq, h]
  let num0 = kv0 + d * p.D; // KV[·, d]
  let den0 = kv0 + p.D * p.D; // Ksum
  var num = 0.0;
  var den = 0.0;
  if (p.D % 4u == 0u) {
    for (var k = 0u; k < p.D / 4u; k++) {
      let q = a[q0 / 4u + k];
      num += dot(q, b[num0 / 4u + k]);
      den += dot(q, b[den0 / 4u + k]);
    }
  } else {
    for (var k = 0u; k < p.D; k++) {
      let q = getA(q0 + k);
      num += q * getB(num0 + k);
      den += q * getB(den0 + k);
    }
  }
  put(i, num / (den + 1e-6) * f32(p.S));
}
