// Linear layer over token rows: y[M,N] = act(x[M,K] · W[N,K]ᵀ + b[N]).
// The input may be the concatenation of two tensors along features:
// columns 0..K1-1 come from x, columns K1..K-1 from x2 (pass x twice and
// K1 = K when there is no concatenation). This serves LoFTR's
// `mlp.0(concat(x, msg))` without materialising the concatenation.
//
// A workgroup computes a 32 × 32 tile of y (rows 32·wid.y …, columns 32·wid.x …):
// eight invocations of 4 rows each, in two passes of 16 columns. When K1 and
// K − K1 are multiples of 4 (every LoFTR layer), features are read 4 at a time
// as vec4, so each step is 4 + 16 vec4 loads for 256 multiply-adds into four 4×4
// matrix accumulators. Weight loads depend only on the workgroup and the loop counter,
// the same for every invocation. Other sizes take a scalar path.
// On lavapipe the cost is in the loads, not the arithmetic: this layout runs at
// 8–12 GFLOP/s on 2 cores where 64 invocations of 4 × 4 scalar blocks ran at
// about 2 (bench/results/README.md). On a GPU, 8 invocations fill a quarter of
// a warp: measure there before keeping it.
// Rows past M read row M−1 and columns past N read column N−1; neither is stored.

override ACT: u32 = 0u; // 0 none, 1 relu, 2 elu(x)+1 (LoFTR's linear-attention feature map)

const TILE = 32u; // rows and columns per workgroup (src/linear.ts dispatches N/32 × M/32)
const ROWS = 4u; // rows per invocation
const COLS = 16u; // columns per pass

struct Params {
  M: u32,
  N: u32,
  K: u32,
  K1: u32,
  scale: f32, // applied after the activation
}

// Buffers are 16-byte multiples (src/gpu.ts), so every tensor can be read as vec4.
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> x2: array<vec4f>;
@group(0) @binding(3) var<storage, read> w: array<vec4f>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

fn activate(v: f32) -> f32 {
  switch ACT {
    case 1u: { return max(v, 0.0); }
    case 2u: { return select(exp(v), v + 1.0, v > 0.0); }
    default: { return v; }
  }
}

// Features k .. k+3 of weight column n (clamped to the last column); `k4` = k / 4.
fn wv(n: u32, k4: u32) -> vec4f {
  return w[min(n, p.N - 1u) * (p.K / 4u) + k4];
}

// The 4 × 4 block of weights: columns n .. n+3, features 4·k4 .. 4·k4+3; v · block = 4 dots.
fn block(n: u32, k4: u32) -> mat4x4f {
  return mat4x4f(wv(n, k4), wv(n + 1u, k4), wv(n + 2u, k4), wv(n + 3u, k4));
}

// Scalar element e of x, x2 and w (for the scalar path).
fn xAt(e: u32) -> f32 {
  return x[e / 4u][e % 4u];
}

fn x2At(e: u32) -> f32 {
  return x2[e / 4u][e % 4u];
}

fn wAt(e: u32) -> f32 {
  return w[e / 4u][e % 4u];
}

fn weight(n: u32, k: u32) -> vec4f {
  let last = p.N - 1u;
  return vec4f(
    wAt(min(n, last) * p.K + k),
    wAt(min(n + 1u, last) * p.K + k),
    wAt(min(n + 2u, last) * p.K + k),
    wAt(min(n + 3u, last) * p.K + k),
  );
}

@compute @workgroup_size(TILE / ROWS)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * TILE + li * ROWS;
  let last = p.M - 1u;
  let r0 = min(m0, last);
  let r1 = min(m0 + 1u, last);
  let r2 = min(m0 + 2u, last);
  let r3 = min(m0 + 3u, last);
  let K2 = p.K - p.K1;
  let vectorised = p.K1 % 4u == 0u && K2 % 4u == 0u;
  for (var half = 0u; half < TILE; half += COLS) {
    let n0 = wid.x * TILE + half;
    if (n0 >= p.N) { break; }
    // Row r: column g of a<r> holds columns n0 + 4g .. +3. Separate accumulators:
    // indexing an array with loop variables is several times slower on lavapipe.
    var a0 = mat4x4f(); var a1 = mat4x4f(); var a2 = mat4x4f(); var a3 = mat4x4f();
    if (vectorised) {
      let A = p.K1 / 4u;
      let B = K2 / 4u;
      for (var k = 0u; k < A + B; k++) {
        var v0: vec4f; var v1: vec4f; var v2: vec4f; var v3: vec4f;
        if (k < A) {
          v0 = x[r0 * A + k]; v1 = x[r1 * A + k]; v2 = x[r2 * A + k]; v3 = x[r3 * A + k];
        } else {
          let j = k - A;
          v0 = x2[r0 * B + j]; v1 = x2[r1 * B + j]; v2 = x2[r2 * B + j]; v3 = x2[r3 * B + j];
        }
        let w0 = block(n0, k);
        let w1 = block(n0 + 4u, k);
        let w2 = block(n0 + 8u, k);
        let w3 = block(n0 + 12u, k);
        a0 += mat4x4f(v0 * w0, v0 * w1, v0 * w2, v0 * w3);
        a1 += mat4x4f(v1 * w0, v1 * w1, v1 * w2, v1 * w3);
        a2 += mat4x4f(v2 * w0, v2 * w1, v2 * w2, v2 * w3);
        a3 += mat4x4f(v3 * w0, v3 * w1, v3 * w2, v3 * w3);
      }
    } else {
      for (var k = 0u; k < p.K; k++) {
        var s0: f32; var s1: f32; var s2: f32; var s3: f32;
        if (k < p.K1) {
          s0 = xAt(r0 * p.K1 + k); s1 = xAt(r1 * p.K1 + k);
          s2 = xAt(r2 * p.K1 + k); s3 = xAt(r3 * p.K1 + k);
        } else {
          let j = k - p.K1;
          s0 = x2At(r0 * K2 + j); s1 = x2At(r1 * K2 + j);
          s2 = x2At(r2 * K2 + j); s3 = x2At(r3 * K2 + j);
        }
        let w = mat4x4f(weight(n0, k), weight(n0 + 4u, k), weight(n0 + 8u, k), weight(n0 + 12u, k));
        a0 += s0 * w;
        a1 += s1 * w;
        a2 += s2 * w;
        a3 += s3 * w;
      }
    }
    store(m0, n0, a0);
    store(m0 + 1u, n0, a1);
    store(m0 + 2u, n0, a2);
    store(m0 + 3u, n0, a3);
  }
}

// Writes row m, columns n0 .. n0+15 (column g of `acc`: n0 + 4g .. +3).
fn store(m: u32, n0: u32, acc: mat4x4f) {
  if (m >= p.M) { return; }
  for (var i = 0u; i < COLS; i++) {
    let n = n0 + i;
    if (n >= p.N) { return; }
    y[m * p.N + n] = activate(acc[i / 4u][i % 4u] + b[n]) * p.scale;
  }
}
