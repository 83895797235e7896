// Inputs of the fine stage, gathered for each coarse match of a batch of slots
// first .. first + slots - 1 (one side: image 0 uses token i of the match,
// image 1 token j); m below is the slot within the batch. `matches` is the
// coarse match list of dual_softmax.wgsl: [count, (i, j, conf) × capacity];
// rows of slots past the count are written as zeros where they are dispatched
// (src/kernels/fine_windows.ts dispatches only the live slots' workgroups).
//  `gather_rows`: rows[m, :] = tokens[id(m), :]                     [slots, C]
//  `windows`:     out[m·W² + r, :] = concat(fine[:, y, x], proj[m, :])   [slots·W², Cf + Cp]
//    where r = dy·W + dx, (x, y) = (ratio·cx + dx - W/2, ratio·cy + dy - W/2)
//    for the match's coarse cell (cx, cy); zero outside the fine map (unfold padding).

#include "include/grid.wgsl"

struct Params {
  first: u32, // first slot of the batch in the match list
  slots: u32, // slots in the batch
  side: u32, // 0: image 0 (token i), 1: image 1 (token j)
  C: u32, // width of `tokens` (gather_rows), or of the fine map Cf (windows)
  Cp: u32, // width of proj
  Wc: u32, // coarse grid width
  ratio: u32, // coarse stride / fine stride
  Hf: u32, // fine map height, width
  Wf: u32,
  W: u32, // window side (5)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> matches: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>; // tokens [L, C] or fine map [Cf, Hf, Wf]
@group(0) @binding(3) var<storage, read> proj: array<f32>; // [slots, Cp]
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// The token of batch slot m on this side, or none past the match count.
fn token(m: u32) -> u32 {
  return matches[1u + 3u * (p.first + m) + p.side];
}

fn live(m: u32) -> bool {
  return p.first + m < matches[0];
}

@compute @workgroup_size(64)
fn gather_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = flatIndex(gid, nwg, 64u);
  if (k >= p.slots * p.C) { return; }
  let m = k / p.C;
  var v = 0.0;
  if (live(m)) { v = src[token(m) * p.C + k % p.C]; }
  out[k] = v;
}

@compute @workgroup_size(64)
fn windows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let width = p.C + p.Cp;
  let ww = p.W * p.W;
  let k = flatIndex(gid, nwg, 64u);
  if (k >= p.slots * ww * width) { return; }
  let row = k / width;
  let c = k % width;
  let m = row / ww;
  var v = 0.0;
  if (live(m)) {
    if (c >= p.C) {
      v = proj[m * p.Cp + c - p.C];
    } else {
      let t = token(m);
      let r = row % ww;
      let half = i32(p.W / 2u);
      let x = i32(p.ratio * (t % p.Wc)) + i32(r % p.W) - half;
      let y = i32(p.ratio * (t / p.Wc)) + i32(r / p.W) - half;
      if (x >= 0 && y >= 0 && x < i32(p.Wf) && y < i32(p.Hf)) {
        v = src[(c * p.Hf + u32(y)) * p.Wf + u32(x)];
      }
    }
  }
  out[k] = v;
}
