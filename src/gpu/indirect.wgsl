// Workgroup counts of an indirect dispatch that covers only the live slots of
// a count kept on the GPU (src/gpu/gpu.ts, `Dispatch.live`), so that work sized for
// a whole batch of match slots runs for the matches found, without reading the
// count back. With n = clamp(count − first, 0, slots) live slots, the dispatch
// needs g = ceil(n · per_slot / per_group) workgroups along its outer
// dimension: written as [x, g, 1] when x is fixed, else as a 1-D grid folded
// into y like `grid()` in src/gpu/gpu.ts: [min(g, 65535), ceil(g / that), 1].

struct Params {
  first: u32, // slot of the count's numbering where this dispatch starts
  slots: u32, // slots the dispatch is sized for
  per_slot: u32, // units of the outer dimension per slot
  per_group: u32, // units per workgroup
  x: u32, // fixed workgroups along x, or 0 for a folded 1-D grid
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> counter: array<u32>; // count in word 0
@group(0) @binding(2) var<storage, read_write> args: array<u32, 3>;

@compute @workgroup_size(1)
fn main() {
  let count = counter[0];
  let n = min(count - min(count, p.first), p.slots);
  let g = (n * p.per_slot + p.per_group - 1u) / p.per_group;
  if (g == 0u) {
    args = array<u32, 3>(0u, 0u, 1u);
  } else if (p.x != 0u) {
    args = array<u32, 3>(p.x, g, 1u);
  } else {
    let x = min(g, 65535u);
    args = array<u32, 3>(x, (g + x - 1u) / x, 1u);
  }
}
