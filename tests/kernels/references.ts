/**
 * Float64 CPU references of the kernels (tests/kernels/cases.ts compares each
 * kernel with its reference here; the backbone's float64 model in
 * tests/model/backbone_test.ts is built from the convolution's), and seeded
 * random maps. Platform-neutral: no Deno API, no node: module.
 * @module
 */
import type { ConvActivation } from "../../src/kernels/conv2d.ts";
import type { PosEncoding } from "../../src/model/architecture.ts";
import type { HostTensor } from "../../src/model/parameters.ts";
import { seededRandom } from "../../testing/random.ts";

/** A `[C, H, W]` map in float64 on the CPU. */
export interface Map3 {
  shape: [number, number, number];
  data: Float64Array | Float32Array;
}

/** The activation `activation` of `v`. */
export function activate(v: number, activation: ConvActivation = "none"): number {
  if (activation === "relu") return Math.max(v, 0);
  return activation === "leaky_relu" && v < 0 ? 0.01 * v : v;
}

/** Bilinear resampling with align_corners = true to `ho × wo`, in float64. */
export function upsampleRef(r: Map3, ho: number, wo: number): Map3 {
  const [c, h, w] = r.shape;
  const out = new Float64Array(c * ho * wo);
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < ho; y++) {
      const sy = ho > 1 ? (y * (h - 1)) / (ho - 1) : 0;
      const y0 = Math.min(Math.floor(sy), h - 1), y1 = Math.min(y0 + 1, h - 1), ly = sy - y0;
      for (let x = 0; x < wo; x++) {
        const sx = wo > 1 ? (x * (w - 1)) / (wo - 1) : 0;
        const x0 = Math.min(Math.floor(sx), w - 1), x1 = Math.min(x0 + 1, w - 1), lx = sx - x0;
        const at = (yy: number, xx: number) => r.data[(k * h + yy) * w + xx];
        out[(k * ho + y) * wo + x] = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) +
          ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
      }
    }
  }
  return { shape: [c, ho, wo], data: out };
}

/** `act(conv(x, filter) + bias + residual)` in float64; the residual is upsampled when coarser. */
export function conv2dRef(
  x: Map3,
  filter: HostTensor,
  bias: ArrayLike<number> | null,
  o: { stride?: number; padding?: number; activation?: ConvActivation; residual?: Map3 } = {},
): Map3 {
  const [cin, h, w] = x.shape;
  const [cout, , k] = filter.shape;
  const s = o.stride ?? 1, pad = o.padding ?? (k - 1) / 2;
  const ho = Math.floor((h + 2 * pad - k) / s) + 1, wo = Math.floor((w + 2 * pad - k) / s) + 1;
  const res = o.residual && upsampleRef(o.residual, ho, wo);
  const out = new Float64Array(cout * ho * wo);
  for (let co = 0; co < cout; co++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let v = bias ? bias[co] : 0;
        for (let ci = 0; ci < cin; ci++) {
          for (let ky = 0; ky < k; ky++) {
            const iy = oy * s + ky - pad;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < k; kx++) {
              const ix = ox * s + kx - pad;
              if (ix < 0 || ix >= w) continue;
              v += x.data[(ci * h + iy) * w + ix] *
                filter.data[((co * cin + ci) * k + ky) * k + kx];
            }
          }
        }
        const i = (co * ho + oy) * wo + ox;
        if (res) v += res.data[i];
        out[i] = activate(v, o.activation);
      }
    }
  }
  return { shape: [cout, ho, wo], data: out };
}

/** A `[C, H, W]` map of numbers drawn from `rand`. */
export function randomMap(shape: [number, number, number], rand: () => number): Map3 {
  return { shape, data: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, rand) };
}

/** A seeded random grey image `[1, height, width]` with values in [0, 1). */
export function randomImage(height: number, width: number, seed: number): Map3 {
  const rand = seededRandom(seed);
  return randomMap([1, height, width], () => (rand() + 1) / 2);
}

/** elu(x) + 1, the linear-attention feature map φ (LoFTR's `elu_feature_map`). */
export function elu1(x: number): number {
  return x > 0 ? x + 1 : Math.exp(x);
}

/**
 * `act([x, x2] · Wᵀ + b) · scale` in float64 for `x` `[M, K1]`, `x2`
 * `[M, K2]` (K2 = 0: no concatenation), `w` `[N, K1 + K2]`, `b` `[N]`.
 */
export function linearRef(
  x: ArrayLike<number>,
  x2: ArrayLike<number> | null,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  dims: { M: number; K1: number; K2: number; N: number },
  activation: "none" | "relu" | "elu1",
  scale: number,
): Float64Array {
  const { M, K1, K2, N } = dims;
  const K = K1 + K2;
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = b[n];
      for (let k = 0; k < K; k++) {
        s += (k < K1 ? x[m * K1 + k] : x2![m * K2 + k - K1]) * w[n * K + k];
      }
      const a = activation === "relu" ? Math.max(s, 0) : activation === "elu1" ? elu1(s) : s;
      out[m * N + n] = a * scale;
    }
  }
  return out;
}

/**
 * LoFTR's linear attention (`LinearAttention` of loftr/loftr_module/
 * linear_attention.py) in float64 over `batch` sequences: for the feature
 * maps `Q` = φ(q) `[batch·L, C]`, `K` = φ(k) `[batch·S, C]` and values `v`
 * `[batch·S, C]`, per sequence and head h (channels h·D … h·D + D − 1),
 * `KV = Σ_s K[s]ᵀ (v[s] / S)`, `Z[l] = 1 / (Q[l] · Σ_s K[s] + 1e-6)`,
 * `msg[l] = Q[l] · KV · Z[l] · S`. Returns `[batch·L, C]`.
 */
export function linearAttentionRef(
  Q: ArrayLike<number>,
  K: ArrayLike<number>,
  v: ArrayLike<number>,
  dims: { L: number; S: number; C: number; heads: number; batch: number },
): Float64Array {
  const { L, S, C, heads, batch } = dims;
  const D = C / heads;
  const out = new Float64Array(batch * L * C);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kv = new Float64Array(D * D), ksum = new Float64Array(D);
      for (let s = b * S; s < (b + 1) * S; s++) {
        for (let d = 0; d < D; d++) {
          const k = K[s * C + h * D + d];
          ksum[d] += k;
          for (let e = 0; e < D; e++) kv[d * D + e] += k * (v[s * C + h * D + e] / S);
        }
      }
      for (let l = b * L; l < (b + 1) * L; l++) {
        let den = 0;
        for (let d = 0; d < D; d++) den += Q[l * C + h * D + d] * ksum[d];
        const z = 1 / (den + 1e-6);
        for (let e = 0; e < D; e++) {
          let num = 0;
          for (let d = 0; d < D; d++) num += Q[l * C + h * D + d] * kv[d * D + e];
          out[l * C + h * D + e] = num * z * S;
        }
      }
    }
  }
  return out;
}

/**
 * `LayerNorm(x) · γ + β (+ residual)` over the last axis of `x` `[L, C]` in
 * float64 (biased variance, as PyTorch).
 */
export function layerNormRef(
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  eps: number,
  L: number,
  C: number,
  residual?: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(L * C);
  for (let l = 0; l < L; l++) {
    let mean = 0, variance = 0;
    for (let c = 0; c < C; c++) mean += x[l * C + c];
    mean /= C;
    for (let c = 0; c < C; c++) variance += (x[l * C + c] - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / C + eps);
    for (let c = 0; c < C; c++) {
      const i = l * C + c;
      out[i] = (x[i] - mean) * inv * gamma[c] + beta[c] + (residual ? residual[i] : 0);
    }
  }
  return out;
}

/**
 * LoFTR's sine positional encoding (`PositionEncodingSine`) of a `[C, H, W]`
 * map added to it and flattened to tokens `[H·W, C]`, in float64: channel
 * 4k + j is sin (j = 0) or cos (j = 1) of x·d_k, sin (2) or cos (3) of y·d_k,
 * with x = column + 1, y = row + 1, and `d_k = exp(−2k)` (`legacy`) or
 * `exp(−2k · ln(10000) / (C/2))` (`corrected`), d_k rounded to float32 as
 * the PyTorch module builds it.
 */
export function positionEncodingRef(
  feat: ArrayLike<number>,
  C: number,
  H: number,
  W: number,
  variant: PosEncoding,
): Float64Array {
  const out = new Float64Array(H * W * C);
  for (let c = 0; c < C; c++) {
    const k = Math.floor(c / 4);
    const d = Math.fround(
      variant === "legacy" ? Math.exp(-2 * k) : Math.exp((-2 * k * Math.log(10000)) / (C / 2)),
    );
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const arg = (c % 4 < 2 ? x + 1 : y + 1) * d;
        const pe = c % 2 === 0 ? Math.sin(arg) : Math.cos(arg);
        out[(y * W + x) * C + c] = feat[(c * H + y) * W + x] + pe;
      }
    }
  }
  return out;
}

/**
 * LoFTR's dual softmax of similarities `sim` `[L, S]` in float64:
 * `conf[i, j] = softmax_j(sim)[i, j] · softmax_i(sim)[i, j]`, computed as
 * `exp(2·sim − lse_j(sim[i, ·]) − lse_i(sim[·, j]))`.
 */
export function dualSoftmaxRef(sim: ArrayLike<number>, L: number, S: number): Float64Array {
  const lse = (at: (k: number) => number, n: number) => {
    let m = -Infinity, e = 0;
    for (let k = 0; k < n; k++) m = Math.max(m, at(k));
    for (let k = 0; k < n; k++) e += Math.exp(at(k) - m);
    return m + Math.log(e);
  };
  const rowLse = Array.from({ length: L }, (_, i) => lse((j) => sim[i * S + j], S));
  const colLse = Array.from({ length: S }, (_, j) => lse((i) => sim[i * S + j], L));
  const conf = new Float64Array(L * S);
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < S; j++) {
      conf[i * S + j] = Math.exp(2 * sim[i * S + j] - rowLse[i] - colLse[j]);
    }
  }
  return conf;
}

/** A coarse grid's size in cells. */
export interface Grid {
  width: number;
  height: number;
}

/**
 * The mutual nearest neighbours of a confidence matrix `[L, S]` (row and
 * column argmax, the first index on ties, as `torch.max`), with confidence
 * strictly above `threshold` and both cells at least `border` cells from
 * their grid's edges, in ascending i: LoFTR's `get_coarse_match`.
 */
export function mutualMatchesRef(
  conf: ArrayLike<number>,
  L: number,
  S: number,
  grid0: Grid,
  grid1: Grid,
  border: number,
  threshold: number,
): { i: number[]; j: number[]; confidence: number[] } {
  const rowBest = Array.from({ length: L }, (_, i) => {
    let best = 0;
    for (let j = 1; j < S; j++) if (conf[i * S + j] > conf[i * S + best]) best = j;
    return best;
  });
  const colBest = Array.from({ length: S }, (_, j) => {
    let best = 0;
    for (let i = 1; i < L; i++) if (conf[i * S + j] > conf[best * S + j]) best = i;
    return best;
  });
  const inside = (t: number, g: Grid) => {
    const x = t % g.width, y = Math.floor(t / g.width);
    return x >= border && y >= border && x + border < g.width && y + border < g.height;
  };
  const out = { i: [] as number[], j: [] as number[], confidence: [] as number[] };
  for (let i = 0; i < L; i++) {
    const j = rowBest[i], c = conf[i * S + j];
    if (colBest[j] === i && c > threshold && inside(i, grid0) && inside(j, grid1)) {
      out.i.push(i);
      out.j.push(j);
      out.confidence.push(c);
    }
  }
  return out;
}

/** A coarse match list as the fine stage reads it: token i (image 0) and j (image 1) per match. */
export interface MatchIds {
  i: ArrayLike<number>;
  j: ArrayLike<number>;
}

/** Rows `tokens[id]` `[slots, C]` of the tokens of matches `first … first + slots − 1` on `side`. */
export function gatherRowsRef(
  m: MatchIds,
  first: number,
  slots: number,
  side: 0 | 1,
  tokens: ArrayLike<number>,
  C: number,
): Float32Array {
  const out = new Float32Array(slots * C);
  for (let s = 0; s < slots; s++) {
    const t = (side === 0 ? m.i : m.j)[first + s];
    for (let c = 0; c < C; c++) out[s * C + c] = tokens[t * C + c];
  }
  return out;
}

/**
 * LoFTR's fine windows (`F.unfold` of the fine map with kernel W, stride
 * `ratio`, padding W/2, at each match's coarse cell), each position
 * concatenated with its match's row of `proj`: `[slots·W², Cf + Cp]`.
 */
export function fineWindowsRef(
  m: MatchIds,
  first: number,
  slots: number,
  side: 0 | 1,
  fine: ArrayLike<number>,
  shape: [number, number, number],
  proj: ArrayLike<number>,
  Cp: number,
  g: { coarseWidth: number; ratio: number; window: number },
): Float32Array {
  const [Cf, Hf, Wf] = shape;
  const W = g.window, width = Cf + Cp;
  const out = new Float32Array(slots * W * W * width);
  for (let s = 0; s < slots; s++) {
    const t = (side === 0 ? m.i : m.j)[first + s];
    const cx = t % g.coarseWidth, cy = Math.floor(t / g.coarseWidth);
    for (let dy = 0; dy < W; dy++) {
      for (let dx = 0; dx < W; dx++) {
        const row = (s * W + dy) * W + dx;
        const x = g.ratio * cx + dx - Math.floor(W / 2), y = g.ratio * cy + dy - Math.floor(W / 2);
        for (let c = 0; c < Cf; c++) {
          const inside = x >= 0 && y >= 0 && x < Wf && y < Hf;
          out[row * width + c] = inside ? fine[(c * Hf + y) * Wf + x] : 0;
        }
        for (let c = 0; c < Cp; c++) out[row * width + Cf + c] = proj[s * Cp + c];
      }
    }
  }
  return out;
}

/**
 * LoFTR's fine matching (`FineMatching`) in float64 for window features
 * `f0`, `f1` `[slots·W², C]`: the heatmap `softmax_r(<f0[m, centre], f1[m, r]> / √C)`
 * `[slots, W²]` and `[slots, 3]` (e_x, e_y, std) with the expectation on the
 * grid normalised to [-1, 1] and `std = √max(var_x, 1e-10) + √max(var_y, 1e-10)`.
 */
export function fineExpectationRef(
  f0: ArrayLike<number>,
  f1: ArrayLike<number>,
  slots: number,
  C: number,
  W: number,
): { heatmap: Float64Array; refined: Float64Array } {
  const ww = W * W;
  const heatmap = new Float64Array(slots * ww), refined = new Float64Array(slots * 3);
  for (let m = 0; m < slots; m++) {
    const centre = (m * ww + Math.floor(ww / 2)) * C;
    const logits = Array.from({ length: ww }, (_, r) => {
      let dot = 0;
      for (let c = 0; c < C; c++) dot += f0[centre + c] * f1[(m * ww + r) * C + c];
      return dot / Math.sqrt(C);
    });
    const top = Math.max(...logits);
    const e = logits.map((l) => Math.exp(l - top));
    const sum = e.reduce((a, b) => a + b, 0);
    let ex = 0, ey = 0, vx = 0, vy = 0;
    const grid = (k: number) => -1 + (2 * k) / (W - 1);
    e.forEach((v, r) => {
      heatmap[m * ww + r] = v / sum;
      ex += (v / sum) * grid(r % W);
      ey += (v / sum) * grid(Math.floor(r / W));
    });
    e.forEach((v, r) => {
      vx += (v / sum) * (grid(r % W) - ex) ** 2;
      vy += (v / sum) * (grid(Math.floor(r / W)) - ey) ** 2;
    });
    refined.set([ex, ey, Math.sqrt(Math.max(vx, 1e-10)) + Math.sqrt(Math.max(vy, 1e-10))], 3 * m);
  }
  return { heatmap, refined };
}
