// The flat index of an invocation in a 1-D grid of workgroups of `size`
// invocations, folded into y past WebGPU's 65 535 workgroups per dimension
// (`grid()` in src/gpu/dispatch.ts sizes such grids).
fn flatIndex(gid: vec3u, nwg: vec3u, size: u32) -> u32 {
  return gid.x + gid.y * nwg.x * size;
}

// The flat index of a workgroup in a grid folded likewise.
fn flatWorkgroup(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}
