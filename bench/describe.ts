/**
 * A readable shape for each dispatch, read from the uniform values its kernel
 * module fills by name (the fields of each kernel's `struct Params`):
 * `7×7/2 1→128 320×240`, `4800×512→256`, ….
 * @module
 */
import type { Dispatch } from "../src/gpu/mod.ts";

/** The shape of dispatch `d`, for the bench's tables. */
export function describeDispatch(d: Dispatch): string {
  const u = d.uniforms;
  const [file, entry] = d.kernel.label.split(":");
  switch (file) {
    case "conv2d.wgsl": {
      const k = Math.round(Math.sqrt((d.flops ?? 0) / (2 * u.cout * u.cin * u.oy_count * u.wo)));
      const extra = d.bindings.r === d.bindings.b
        ? ""
        : u.hr === u.ho
        ? " +residual"
        : " +upsampled";
      return `${k}×${k}/${Math.round(u.h / u.ho)} ${u.cin}→${u.cout} ${u.wo}×${u.ho}${extra}`;
    }
    case "linear.wgsl":
      return `${u.M}×${u.K}→${u.N}${u.K1 !== u.K ? ` (concat ${u.K1}+${u.K - u.K1})` : ""}`;
    case "linear_attention.wgsl": {
      const chunks = entry === "kv_sum" && u.chunk < u.rows
        ? ` in ${Math.ceil(u.rows / u.chunk)} chunks`
        : entry === "kv_total"
        ? `, ${u.chunk} chunks`
        : "";
      return `${u.B}×${u.rows} tokens, C ${u.C}, D ${u.D}${chunks}`;
    }
    case "layer_norm.wgsl":
      return `${u.L}×${u.C}`;
    case "position_encoding.wgsl":
      return `${u.C}×${u.H}`;
    case "cast.wgsl":
      return `${u.n} elements`;
    case "fine_windows.wgsl":
      return entry === "gather_rows"
        ? `${u.slots}-slot batch, C ${u.C}`
        : `${u.slots}-slot batch, ${u.C}+${u.Cp}`;
    case "fine_matching.wgsl":
      return `${u.slots}-slot batch, C ${u.C}, ${u.W}×${u.W}`;
    case "ransac.wgsl":
      return `${u.n} matches`;
    case "dual_softmax.wgsl":
      return entry === "mutual" ? `${u.L}×${u.S}` : `${u.T}×${u.S}`;
    default:
      return JSON.stringify(u);
  }
}

/** The family of a row for the share table: conv2d by kernel size (either entry point), else the kernel. */
export function kernelFamily(r: { kernel: string; shape: string }): string {
  return r.kernel.startsWith("conv2d.wgsl:") ? `conv2d ${r.shape.split("/")[0]}` : r.kernel;
}
