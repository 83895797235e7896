// 2-D convolution on [C, H, W] maps: y = act(conv(x, W) + b [+ r]).
//
// One template for every convolution of the backbone, specialised with
// override constants: kernel size, stride, activation, and the optional map r
// added before the activation — either of the output's size (BasicBlock's
// `relu(shortcut + y)`) or a coarser map upsampled bilinearly with
// align_corners = true (the FPN's `conv1x1(x) + up(coarser)`).
//
// Register tiling: each invocation computes 8 output channels × 8 consecutive
// output pixels of one row, straight from storage buffers. The filter is
// rearranged on the host to [ceil(Cout/8)][Cin][K][K][8] (zero-padded), so
// one tap is two vec4 loads, the same for every invocation of a workgroup.
// On lavapipe the accumulators must be separate values (an array indexed
// in loops is spilled to memory, 3× slower), hence the spelled-out tile. For
// stride 1 the input row segment slides along the kernel width: one new load
// per tap instead of eight.
//
// Row windows: x may hold only a horizontal strip of the input map and y only
// a strip of the output map, and a dispatch may compute only some output rows,
// so that a chain of convolutions can run strip by strip (src/backbone.ts).
// Rows are addressed in map coordinates: zero padding applies outside the
// map's rows [0, h) only, never at a strip's edge, and r, always a whole map,
// is read (or interpolated) at the map row. The caller guarantees that x
// holds every input row the computed output rows read.
//
// Precision: the maps x, r, y and the filter are stored as `elem`, f32 or, in
// the f16 variant (src/gpu.ts), f16: half the memory and bandwidth. Every
// value is widened to f32 as it is loaded and the arithmetic is f32, rounded
// to `elem` once, on store. The product of two f16 values (11 significant
// bits each) is exact in f32, so this is f16 products summed in f32 (in the
// backbone a sum has up to Cin·K² = 2304 terms, too many for an f16
// accumulator). One conversion per load (each is used 8 or 16 times) is
// cheaper than one per product: multiplying in f16 and widening each
// product took about twice as long on lavapipe (bench/results/README.md).

override KSIZE: u32 = 3u;
override STRIDE: u32 = 1u;
override ACT: u32 = 0u; // 0 none, 1 ReLU, 2 LeakyReLU(0.01)
override RESIDUAL: u32 = 0u; // 0 none, 1 same-size map, 2 bilinear upsampling (align_corners)

const PX = 8u; // output pixels per invocation, along x (output channels: 8)

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

fn activate(v: f32) -> f32 {
  switch ACT {
    case 1u: { return max(v, 0.0); }
    case 2u: { return select(0.01 * v, v, v > 0.0); }
    default: { return v; }
  }
}

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

// Writes channels c0 .. c0+7 (lo: first four, hi: last four) at (oy, ox).
fn store(c0: u32, oy: u32, ox: u32, lo: vec4f, hi: vec4f) {
  if (ox >= p.wo) { return; }
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
