// Linear layer over token rows: y[M,N] = act(x[M,K] · W[N,K]ᵀ + b[N]).
// The input may be the concatenation of two tensors along features:
// columns 0..K1-1 come from x, columns K1..K-1 from x2 (pass x twice and
// K1 = K when there is no concatenation). This serves LoFTR's
// `mlp.0(concat(x, msg))` without materialising the concatenation.
// Rows past M read row M−1 and columns past N read column N−1; neither is stored.
//
// Two entry points, one per kernel tuning (src/gpu/gpu.ts `KernelTuning`):
//
// `main` ("cpu"): a workgroup computes a 32 × 32 tile of y (rows 32·wid.y …,
// columns 32·wid.x …): eight invocations of 4 rows each, in two passes of 16
// columns. When K1 and K − K1 are multiples of 4 (every LoFTR layer), features
// are read 4 at a time as vec4, so each step is 4 + 16 vec4 loads for 256
// multiply-adds into four 4×4 matrix accumulators. Weight loads depend only on
// the workgroup and the loop counter, the same for every invocation. Other
// sizes take a scalar path. On lavapipe the cost is in the loads, not the
// arithmetic: this layout runs at 8–12 GFLOP/s on 2 cores where 64
// invocations of 4 × 4 scalar blocks ran at about 2 (bench/results/README.md).
// On a GPU, 8 invocations would fill a quarter of a warp.
//
// `tiled` ("gpu"): the classic shared-memory GEMM. A workgroup of 256
// invocations computes a 64 × 64 tile of y; the features go by in slices of
// 16, each staged once in workgroup memory (x: 64 rows × 16, W: 64 columns ×
// 16; 8 KiB) with coalesced loads, 4 per invocation, then each invocation
// accumulates its 4 × 4 outputs (rows ty + 16i, columns tx + 16j) from
// workgroup memory: 8 workgroup loads per 16 multiply-adds, 1 global load per
// 64. Features past K load as 0, so any K works.
#include "include/activation.wgsl"

const TILE = 32u; // `main`: rows and columns per workgroup (src/kernels/linear.ts dispatches N/32 × M/32)
const ROWS = 4u; // `main`: rows per invocation
const COLS = 16u; // `main`: columns per pass
const BIG = 64u; // `tiled`: rows and columns per workgroup (dispatched N/64 × M/64)
const SLICE = 16u; // `tiled`: features per workgroup-memory slice

struct Params {
  M: u32,
  N: u32,
  K: u32,
  K1: u32,
  scale: f32, // applied after the activation
}

// Buffers are 16-byte multiples (src/gpu/gpu.ts), so every tensor can be read as vec4.
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> x2: array<vec4f>;
@group(0) @binding(3) var<storage, read> w: array<vec4f>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

// Features k .. k+3 of weight column n (clamped to the last column); `k4` = k / 4.
fn wv(n: u32, k4: u32) -> vec4f {
  return w[min(n, p.N - 1u) * (p.K / 4u) + k4];
}

// The 4 × 4 block of weights: columns n .. n+3, features 4·k4 .. 4·k4+3; v · block = 4 dots.
fn block(n: u32, k4: u32) -> mat4x4f {
  return mat4x4f(wv(n, k4), wv(n + 1u, k4), wv(n + 2u, k4), wv(n + 3u, k4));
}

// Scalar element e of x, x2 and w (for the scalar paths).
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
  for (var i = 0u; i < COLS; i++) { put(m, n0 + i, acc[i / 4u][i % 4u]); }
}

// y[m, n] = act(v + b[n]) · scale, inside the output only.
fn put(m: u32, n: u32, v: f32) {
  if (m < p.M && n < p.N) { y[m * p.N + n] = activate(v + b[n]) * p.scale; }
}

// `tiled`: the current feature slice of x (xs[k][row]) and of W (ws[k][column]).
var<workgroup> xs: array<f32, SLICE * BIG>;
var<workgroup> ws: array<f32, SLICE * BIG>;

// Feature k of the concatenated input row m (m < M), 0 past K.
fn inputAt(m: u32, k: u32) -> f32 {
  if (k >= p.K) { return 0.0; }
  if (k < p.K1) { return xAt(m * p.K1 + k); }
  return x2At(m * (p.K - p.K1) + k - p.K1);
}

@compute @workgroup_size(256)
fn tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * BIG;
  let n0 = wid.x * BIG;
  let tx = li % 16u;
  let ty = li / 16u;
  // Staging: invocation li loads features 4·(li % 4) … +3 of tile row (column) li / 4.
  let row = li / 4u;
  let k4 = (li % 4u) * 4u;
  let xm = min(m0 + row, p.M - 1u);
  let wn = min(n0 + row, p.N - 1u);
  // Output (ty + 16i, tx + 16j) is component j of a<i>.
  var a0 = vec4f(); var a1 = vec4f(); var a2 = vec4f(); var a3 = vec4f();
  for (var k0 = 0u; k0 < p.K; k0 += SLICE) {
    for (var e = 0u; e < 4u; e++) {
      let k = k4 + e;
      xs[k * BIG + row] = inputAt(xm, k0 + k);
      ws[k * BIG + row] = select(0.0, wAt(wn * p.K + k0 + k), k0 + k < p.K);
    }
    workgroupBarrier();
    for (var k = 0u; k < SLICE; k++) {
      let w = vec4f(ws[k * BIG + tx], ws[k * BIG + tx + 16u], ws[k * BIG + tx + 32u], ws[k * BIG + tx + 48u]);
      a0 += xs[k * BIG + ty] * w;
      a1 += xs[k * BIG + ty + 16u] * w;
      a2 += xs[k * BIG + ty + 32u] * w;
      a3 += xs[k * BIG + ty + 48u] * w;
    }
    workgroupBarrier();
  }
  storeStrided(m0 + ty, n0 + tx, a0);
  storeStrided(m0 + ty + 16u, n0 + tx, a1);
  storeStrided(m0 + ty + 32u, n0 + tx, a2);
  storeStrided(m0 + ty + 48u, n0 + tx, a3);
}

// Writes row m, columns n, n+16, n+32, n+48 (components of `acc`).
fn storeStrided(m: u32, n: u32, acc: vec4f) {
  for (var j = 0u; j < 4u; j++) { put(m, n + 16u * j, acc[j]); }
}
