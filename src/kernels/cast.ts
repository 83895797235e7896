/**
 * Element-type conversion of tensors between `f32` and `f16` on the GPU
 * (`cast.wgsl`): the f16 backbone rounds its f32 input image to f16
 * and widens its two output maps to f32 with it.
 * @module
 */
import { type Gpu, GpuError, grid, type Tensor } from "../gpu/mod.ts";

const SHADER = new URL("./cast.wgsl", import.meta.url);

/** Invocations per workgroup of `cast.wgsl`. */
const WG = 256;

/**
 * A new tensor holding `t` converted to `dtype`: `f16` → `f32` is exact,
 * `f32` → `f16` rounds to one of the two nearest f16 values (WGSL leaves
 * which to the implementation). Needs a device with `shader-f16`.
 */
export async function cast(gpu: Gpu, t: Tensor, dtype: "f32" | "f16"): Promise<Tensor> {
  const entry = t.dtype === "f16" && dtype === "f32"
    ? "to_f32"
    : t.dtype === "f32" && dtype === "f16"
    ? "from_f32"
    : null;
  if (!entry) throw new GpuError(`no conversion from ${t.dtype} to ${dtype}`);
  const out = gpu.tensor(t.shape, undefined, dtype);
  gpu.dispatch({
    kernel: await gpu.kernel(SHADER, entry, {}, "f16"),
    bindings: entry === "to_f32" ? { narrow: t, wide: out } : { wide_in: t, narrow_out: out },
    uniforms: { n: t.size },
    workgroups: grid(t.size, WG),
    bytes: 6 * t.size,
  });
  return out;
}
