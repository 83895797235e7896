// 2-D convolution on [C, H, W] maps: y = act(conv(x, W) + b [+ r]).
//
// One template for every convolution of the backbone, specialised with
// override constants: kernel size, stride, activation, and the optional map r
// added before the activation — either of the output's size (BasicBlock's
// `relu(shortcut + y)`) or a coarser map upsampled bilinearly with
// align_corners = true (the FPN's `conv1x1(x) + up(coarser)`). Two entry
// points compute the same convolution with the same bindings and Params,
// tuned for different hardware (src/conv2d.ts picks one by `Gpu.tuning`);
// both share the loads, the residual and the store below.
//
// The filter is rearranged on the host to [ceil(Cout/8)][Cin][K][K][8]
// (zero-padded): for each block of 8 output channels, the taps t = (ci, ky,
// kx) in order, 8 channels (two vec4) each. Both kernels read it as is.
//
// `main`, for CPUs (lavapipe): register tiling, no workgroup memory. Each
// invocation computes 8 output channels × 8 consecutive output pixels of one
// row, straight from storage buffers: one tap is two vec4 filter loads, the
// same for every invocation of a workgroup. On lavapipe the accumulators
// must be separate values (an array indexed in loops is spilled to memory,
// 3× slower), hence the spelled-out tile. For stride 1 the input row segment
// slides along the kernel width: one new load per tap instead of eight.
//
// `tiled`, for GPUs: implicit GEMM through workgroup memory. The convolution
// is the product of the filter [Cout × T] and the implicit im2col matrix
// [T × pixels], T = Cin·K² taps, pixels = the computed output rows
// flattened (oy_count · wo, so a tile may span rows and narrow maps fill
// whole tiles). A workgroup of 256 invocations computes a tile of
// TILE_CO = 64 channels × TILE_PX = 128 pixels, walking T in chunks of
// KC = 16 taps: it stages the filter chunk [16 taps × 64 channels] and the
// input chunk [16 taps × 128 pixels] in workgroup memory (widened to f32:
// 4 + 8 = 12 KiB, under WebGPU's guaranteed 16 KiB; one buffer and two
// barriers per chunk, as double buffering would need 24 KiB), then each
// invocation accumulates its 8 channels × 4 consecutive pixels. Per tap that is 3 vec4
// reads of workgroup memory (2 of filter, 1 of input) for 32 FMAs, and per
// chunk one vec4 filter load plus 8 input loads from storage per invocation
// for 512 FMAs (12 values, 1/43 per FMA). The pixel tile is
// the longer side because pixels number tens of thousands while Cout is 64
// to 256; 8 channels per invocation are exactly one filter block, and
// invocations of a warp share pixels (consecutive invocations take
// consecutive channel groups), so a warp's reads of workgroup memory hit few
// distinct addresses. Staging loads are coalesced: consecutive invocations
// load consecutive vec4 of a filter block's contiguous run of 16 taps, and
// consecutive pixels of the input (consecutive addresses within a row at
// stride 1). Taps past T, channels past Cout and pixels past the computed
// ones are staged as zeros, so the inner loop has no bounds checks; a zero
// chunk entry adds +0 exactly. Every output sums its taps in the same order
// wherever it falls in a tile, so strips stay bit-identical to whole maps.
// That order, t ascending, is also `main`'s: on lavapipe the two entry
// points agreed bit for bit where compared, which other compilers
// (contracting some multiply-adds into FMAs, not others) need not reproduce.
//
// Row windows: x may hold only a horizontal strip of the input map and y only
// a strip of the output map, and a dispatch may compute only some output rows,
// so that a chain of convolutions can run strip by strip (src/model/backbone.ts).
// Rows are addressed in map coordinates: zero padding applies outside the
// map's rows [0, h) only, never at a strip's edge, and r, always a whole map,
// is read (or interpolated) at the map row. The caller guarantees that x
// holds every input row the computed output rows read; both kernels read
// exactly those rows (a tile's pixels past the computed rows read nothing)
// and write only the computed rows. x and y are distinct buffers within a
// dispatch (WebGPU forbids binding one buffer both read-only and writable),
// so no read can see this dispatch's writes; chains that overwrite their
// input do so by copies between dispatches (src/model/backbone.ts).
//
// Precision: the maps x, r, y and the filter are stored as `elem`, f32 or, in
// the f16 variant (src/gpu/gpu.ts), f16: half the memory and bandwidth. Every
// value is widened to f32 as it is loaded and the arithmetic is f32, rounded
// to `elem` once, on store. The product of two f16 values (11 significant
// bits each) is exact in f32, so this is f16 products summed in f32 (in the
// backbone a sum has up to Cin·K² = 2304 terms, too many for an f16
// accumulator). One conversion per load (each is used 8 or 16 times) is
// cheaper than one per product: multiplying in f16 and widening each
// product took about twice as long on lavapipe (bench/results/README.md).

override KSIZE: u32 = 3u;
override STRIDE: u32 = 1u;
#include "include/activation.wgsl"
override RESIDUAL: u32 = 0u; // 0 none, 1 same-size map, 2 bilinear upsampling (align_corners)

const PX = 8u; // main: output pixels per invocation, along x (output channels: 8)
const TILE_CO = 64u; // tiled: output channels per workgroup, 8 per invocation
const TILE_PX = 128u; // tiled: output pixels per workgroup, 4 per invocation
const KC = 16u; // tiled: taps per chunk staged in workgroup memory
const TILED_WG = 256u; // tiled: invocations per workgroup

alias elem = f32;

struct Params {
  cin: u32,
  h: u32, // input map height: zero padding outside rows [0, h)
  w: u32,
  cout: u32,
  ho: u32, // output map height
  wo: u32,
  pad: u32,
  hr: u32, // residual map height (RESIDUAL 2; equals ho otherwise)
  wr: u32, // residual map width
  x_first: u32, // x holds input rows x_first .. x_first + x_rows - 1
  x_rows: u32,
  y_first: u32, // y holds output rows y_first .. y_first + y_rows - 1
  y_rows: u32,
  oy_first: u32, // this dispatch computes output rows oy_first .. oy_first + oy_count - 1
  oy_count: u32,
  scale_y: f32, // (hr - 1) / (ho - 1): source row step per output row (RESIDUAL 2)
  scale_x: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<elem>;
@group(0) @binding(2) var<storage, read> wt: array<vec4<elem>>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> r: array<elem>;
@group(0) @binding(5) var<storage, read_write> y: array<elem>;

// x[row + ix], or 0 outside the row (zero padding).
fn load(row: u32, ix: i32) -> f32 {
  return select(0.0, f32(x[row + u32(clamp(ix, 0, i32(p.w) - 1))]), ix >= 0 && ix < i32(p.w));
}

// The map r at output position (c, oy, ox).
fn residual(c: u32, oy: u32, ox: u32) -> f32 {
  if (RESIDUAL == 1u) {
    return f32(r[(c * p.ho + oy) * p.wo + ox]);
  }
  // Bilinear, align_corners = true: source = dst · (in − 1) / (out − 1).
  let sy = p.scale_y * f32(oy);
  let sx = p.scale_x * f32(ox);
  let y0 = min(u32(sy), p.hr - 1u);
  let x0 = min(u32(sx), p.wr - 1u);
  let y1 = min(y0 + 1u, p.hr - 1u);
  let x1 = min(x0 + 1u, p.wr - 1u);
  let ly = sy - f32(y0);
  let lx = sx - f32(x0);
  let base = c * p.hr * p.wr;
  let top = (1.0 - lx) * f32(r[base + y0 * p.wr + x0]) + lx * f32(r[base + y0 * p.wr + x1]);
  let bottom = (1.0 - lx) * f32(r[base + y1 * p.wr + x0]) + lx * f32(r[base + y1 * p.wr + x1]);
  return (1.0 - ly) * top + ly * bottom;
}

// Writes channels c0 .. c0+7 (lo: first four, hi: last four) at (oy, ox),
// if that is one of the pixels this dispatch computes.
fn store(c0: u32, oy: u32, ox: u32, lo: vec4f, hi: vec4f) {
  if (ox >= p.wo || oy - p.oy_first >= p.oy_count) { return; }
  for (var i = 0u; i < 8u; i++) {
    let c = c0 + i;
    if (c >= p.cout) { return; }
    var v = select(lo[i % 4u], hi[i % 4u], i >= 4u) + b[c];
    if (RESIDUAL != 0u) { v += residual(c, oy, ox); }
    y[(c * p.y_rows + oy - p.y_first) * p.wo + ox] = elem(activate(v));
  }
}

// Invocation i covers output row oy_first + i / ceil(wo / PX), pixels
// PX·(i % ceil(wo / PX)) …; workgroup row wid.y covers output channels
// 8·wid.y … 8·wid.y + 7.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let blocks = (p.wo + PX - 1u) / PX;
  if (gid.x / blocks >= p.oy_count) { return; }
  let oy = p.oy_first + gid.x / blocks;
  let ox0 = (gid.x % blocks) * PX;
  let ix0 = i32(ox0 * STRIDE) - i32(p.pad);
  let iy0 = i32(oy * STRIDE) - i32(p.pad);
  let st = i32(STRIDE);
  // Pixel j, channels 0..3: aj0; channels 4..7: aj1.
  var a00: vec4f; var a01: vec4f; var a10: vec4f; var a11: vec4f;
  var a20: vec4f; var a21: vec4f; var a30: vec4f; var a31: vec4f;
  var a40: vec4f; var a41: vec4f; var a50: vec4f; var a51: vec4f;
  var a60: vec4f; var a61: vec4f; var a70: vec4f; var a71: vec4f;
  for (var ci = 0u; ci < p.cin; ci++) {
    for (var ky = 0u; ky < KSIZE; ky++) {
      let iy = iy0 + i32(ky);
      if (iy < 0 || iy >= i32(p.h)) { continue; }
      let row = (ci * p.x_rows + u32(iy) - p.x_first) * p.w;
      let tap = ((wid.y * p.cin + ci) * KSIZE + ky) * KSIZE * 2u;
      var s0: f32; var s1: f32; var s2: f32; var s3: f32;
      var s4: f32; var s5: f32; var s6: f32; var s7: f32;
      for (var kx = 0u; kx < KSIZE; kx++) {
        let ix = ix0 + i32(kx);
        if (STRIDE == 1u && kx > 0u) {
          s0 = s1; s1 = s2; s2 = s3; s3 = s4; s4 = s5; s5 = s6; s6 = s7;
          s7 = load(row, ix + 7);
        } else {
          s0 = load(row, ix);
          s1 = load(row, ix + st);
          s2 = load(row, ix + 2 * st);
          s3 = load(row, ix + 3 * st);
          s4 = load(row, ix + 4 * st);
          s5 = load(row, ix + 5 * st);
          s6 = load(row, ix + 6 * st);
          s7 = load(row, ix + 7 * st);
        }
        let w0 = vec4f(wt[tap + 2u * kx]);
        let w1 = vec4f(wt[tap + 2u * kx + 1u]);
        a00 += s0 * w0; a01 += s0 * w1;
        a10 += s1 * w0; a11 += s1 * w1;
        a20 += s2 * w0; a21 += s2 * w1;
        a30 += s3 * w0; a31 += s3 * w1;
        a40 += s4 * w0; a41 += s4 * w1;
        a50 += s5 * w0; a51 += s5 * w1;
        a60 += s6 * w0; a61 += s6 * w1;
        a70 += s7 * w0; a71 += s7 * w1;
      }
    }
  }
  let c0 = wid.y * 8u;
  store(c0, oy, ox0, a00, a01);
  store(c0, oy, ox0 + 1u, a10, a11);
  store(c0, oy, ox0 + 2u, a20, a21);
  store(c0, oy, ox0 + 3u, a30, a31);
  store(c0, oy, ox0 + 4u, a40, a41);
  store(c0, oy, ox0 + 5u, a50, a51);
  store(c0, oy, ox0 + 6u, a60, a61);
  store(c0, oy, ox0 + 7u, a70, a71);
}

// Filter chunk: tap k of the chunk, channels 4i .. 4i+3 of the tile at [16k + i].
var<workgroup> tile_w: array<vec4f, KC * TILE_CO / 4u>;
// Input chunk (im2col): tap k of the chunk, pixels 4j .. 4j+3 of the tile at [32k + j].
var<workgroup> tile_x: array<vec4f, KC * TILE_PX / 4u>;

// Workgroup (wid.x, wid.y) computes the pixels TILE_PX·wid.x … of those
// this dispatch computes (in oy_count · wo order) × channels TILE_CO·wid.y …;
// invocation l, the tile's pixels 4·(l / 8) … + 3 × channels 8·(l % 8) … + 7.
@compute @workgroup_size(TILED_WG)
fn tiled(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3u) {
  let taps = p.cin * KSIZE * KSIZE;
  let blocks = (p.cout + 7u) / 8u; // filter blocks
  let pixels = p.oy_count * p.wo;
  let m0 = wid.x * TILE_PX;
  // The pixel this invocation stages (consecutive invocations: consecutive
  // pixels) and its top-left input position.
  let sp = l % TILE_PX;
  let sm = m0 + sp;
  let iy0 = i32((p.oy_first + sm / p.wo) * STRIDE) - i32(p.pad);
  let ix0 = i32((sm % p.wo) * STRIDE) - i32(p.pad);
  // Pixel j of this invocation's 4, channels 0..3 of its 8: aj0; 4..7: aj1.
  let cg = l % 8u;
  let pg = l / 8u;
  var a00: vec4f; var a01: vec4f; var a10: vec4f; var a11: vec4f;
  var a20: vec4f; var a21: vec4f; var a30: vec4f; var a31: vec4f;
  for (var k0 = 0u; k0 < taps; k0 += KC) {
    // Filter: vec4 i is half i % 2 of tap i / 2 % KC of the tile's block i / (2·KC).
    for (var i = l; i < KC * TILE_CO / 4u; i += TILED_WG) {
      let blk = wid.y * (TILE_CO / 8u) + i / (2u * KC);
      let k = i / 2u % KC;
      var v = vec4f();
      if (blk < blocks && k0 + k < taps) { v = vec4f(wt[(blk * taps + k0) * 2u + i % (2u * KC)]); }
      tile_w[k * (TILE_CO / 4u) + i / (2u * KC) * 2u + i % 2u] = v;
    }
    // Input: tap k0 + k = (ci, ky, kx) at pixel sp.
    for (var k = l / TILE_PX; k < KC; k += TILED_WG / TILE_PX) {
      let t = k0 + k;
      let ci = t / (KSIZE * KSIZE);
      let iy = iy0 + i32(t / KSIZE % KSIZE);
      var v = 0.0;
      if (sm < pixels && t < taps && iy >= 0 && iy < i32(p.h)) {
        v = load((ci * p.x_rows + u32(iy) - p.x_first) * p.w, ix0 + i32(t % KSIZE));
      }
      tile_x[k * (TILE_PX / 4u) + sp / 4u][sp % 4u] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < KC; k++) {
      let w0 = tile_w[k * (TILE_CO / 4u) + 2u * cg];
      let w1 = tile_w[k * (TILE_CO / 4u) + 2u * cg + 1u];
      let s = tile_x[k * (TILE_PX / 4u) + pg];
      a00 += s.x * w0; a01 += s.x * w1;
      a10 += s.y * w0; a11 += s.y * w1;
      a20 += s.z * w0; a21 += s.z * w1;
      a30 += s.w * w0; a31 += s.w * w1;
    }
    workgroupBarrier();
  }
  let c0 = wid.y * TILE_CO + 8u * cg;
  let m = m0 + 4u * pg;
  store(c0, p.oy_first + m / p.wo, m % p.wo, a00, a01);
  store(c0, p.oy_first + (m + 1u) / p.wo, (m + 1u) % p.wo, a10, a11);
  store(c0, p.oy_first + (m + 2u) / p.wo, (m + 2u) % p.wo, a20, a21);
  store(c0, p.oy_first + (m + 3u) / p.wo, (m + 3u) % p.wo, a30, a31);
}
