// Linear layer over token rows: y[M,N] = act(x[M,K] · W[N,K]ᵀ + b[N]).
// The input may be the concatenation of two tensors along features:
// columns 0..K1-1 come from x, columns K1..K-1 from x2 (pass x twice and
// K1 = K when there is no concatenation). This serves LoFTR's
// `mlp.0(concat(x, msg))` without materialising the concatenation.
//
// Register tiling: each invocation computes a 4×4 block of y.

override ACT: u32 = 0u; // 0 none, 1 relu, 2 elu(x)+1 (LoFTR's linear-attention feature map)
override WG: u32 = 8u;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  K1: u32,
  scale: f32, // applied after the activation
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> x2: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

fn activate(v: f32) -> f32 {
  switch ACT {
    case 1u: { return max(v, 0.0); }
    case 2u: { return select(exp(v), v + 1.0, v > 0.0); }
    default: { return v; }
  }
}

fn input(m: u32, k: u32) -> f32 {
  if (m >= p.M) { return 0.0; }
  if (k < p.K1) { return x[m * p.K1 + k]; }
  return x2[m * (p.K - p.K1) + (k - p.K1)];
}

@compute @workgroup_size(WG, WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n0 = gid.x * 4u;
  let m0 = gid.y * 4u;
  if (n0 >= p.N || m0 >= p.M) { return; }
  // Separate accumulators: indexing an array with loop variables is several times
  // slower on lavapipe (measured on conv2d.wgsl).
  var acc0 = vec4f();
  var acc1 = vec4f();
  var acc2 = vec4f();
  var acc3 = vec4f();
  let nLast = p.N - 1u;
  for (var k = 0u; k < p.K; k++) {
    let wv = vec4f(
      w[min(n0, nLast) * p.K + k],
      w[min(n0 + 1u, nLast) * p.K + k],
      w[min(n0 + 2u, nLast) * p.K + k],
      w[min(n0 + 3u, nLast) * p.K + k],
    );
    acc0 += input(m0, k) * wv;
    acc1 += input(m0 + 1u, k) * wv;
    acc2 += input(m0 + 2u, k) * wv;
    acc3 += input(m0 + 3u, k) * wv;
  }
  store(m0, n0, acc0);
  store(m0 + 1u, n0, acc1);
  store(m0 + 2u, n0, acc2);
  store(m0 + 3u, n0, acc3);
}

fn store(m: u32, n0: u32, acc: vec4f) {
  if (m >= p.M) { return; }
  let row = m * p.N;
  if (n0 < p.N) { y[row + n0] = activate(acc.x + b[n0]) * p.scale; }
  if (n0 + 1u < p.N) { y[row + n0 + 1u] = activate(acc.y + b[n0 + 1u]) * p.scale; }
  if (n0 + 2u < p.N) { y[row + n0 + 2u] = activate(acc.z + b[n0 + 2u]) * p.scale; }
  if (n0 + 3u < p.N) { y[row + n0 + 3u] = activate(acc.w + b[n0 + 3u]) * p.scale; }
}
