/**
 * The GPU layer: everything between the kernels and WebGPU. One device
 * ({@link Gpu}) with its kernel cache (pipelines built from WGSL files, whose
 * `#include`s and f16 variants `wgsl.ts` resolves, and whose interface, the
 * uniform fields and storage bindings by name, it reads from the source), the
 * buffer pool behind tensors (`buffers.ts`: reuse, memory budget, peak), the
 * bind-group cache (`bind_groups.ts`), dispatches sized on the CPU or, for
 * work that follows a count kept on the GPU, by an indirect dispatch
 * (`indirect.wgsl`), the per-dispatch profiler (`profiler.ts`) and read-back,
 * the only way data leaves the GPU. Platform-neutral: it runs wherever
 * `navigator.gpu` exists (Deno, a browser).
 * @module
 */
export { type MemoryStats } from "./buffers.ts";
export { type Dispatch, grid, groups, type Kernel, type LiveDispatch } from "./dispatch.ts";
export { GpuError } from "./error.ts";
export { DEFAULT_MEMORY_BUDGET, Gpu, type GpuOptions, type KernelTuning } from "./gpu.ts";
export { type KernelTiming } from "./profiler.ts";
export {
  type DType,
  ELEMENT_BYTES,
  type HostArray,
  type LiveSlots,
  type Precision,
  type Tensor,
} from "./tensor.ts";
export { type KernelInterface, type UniformType } from "./wgsl.ts";
