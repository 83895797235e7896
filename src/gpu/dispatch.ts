/**
 * What a kernel dispatch is made of: the kernel, its buffers and uniform
 * values by name, the workgroup grid, and the grid helpers kernels size it with.
 * @module
 */
import type { KernelInterface } from "./wgsl.ts";
import type { LiveSlots, Tensor } from "./tensor.ts";

/** A compiled entry point of a WGSL file, with the interface read from its source. */
export interface Kernel {
  /** The compute pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** `<file>:<entry point>`. */
  readonly label: string;
  /** Uniform fields and storage bindings by name. */
  readonly interface: KernelInterface;
}

/** How a dispatch sized for {@link LiveSlots} shrinks to the live ones. */
export interface LiveDispatch extends LiveSlots {
  /** Units of the dispatch's outer dimension per slot (rows, elements, …). */
  perSlot: number;
  /** Units per workgroup along the outer dimension. */
  perGroup: number;
  /**
   * Fixed workgroup count along x, the outer dimension being y; omitted for a
   * 1-D grid folded into y as {@link grid} does.
   */
  x?: number;
}

/** One dispatch of a compute kernel. */
export interface Dispatch {
  /** The kernel, from `Gpu.kernel`. */
  kernel: Kernel;
  /**
   * Storage buffers by the names of their `var<storage>` declarations in the
   * kernel's source; only those its entry point uses.
   */
  bindings: Readonly<Record<string, Tensor | GPUBuffer>>;
  /** Values of the fields of the kernel's `struct Params`, by name: every field. */
  uniforms: Readonly<Record<string, number>>;
  /** Number of workgroups along x, y, z (for all slots, when `live` is given). */
  workgroups: [number, number?, number?];
  /**
   * Dispatch only the workgroups the live slots need, counted on the GPU
   * (indirect dispatch: the count is never read back). The kernel must not
   * depend on the workgroups past them.
   */
  live?: LiveDispatch;
  /**
   * Floating-point operations of this dispatch, for the profiler's GFLOP/s
   * (optional; with `live`, those of all slots, an upper bound).
   */
  flops?: number;
  /** Bytes this dispatch must read and write at least, for the profiler's GB/s (optional). */
  bytes?: number;
}

/** Number of workgroups of `size` invocations needed to cover `n` items. */
export function groups(n: number, size: number): number {
  return Math.ceil(n / size);
}

/**
 * Workgroup counts covering `n` items with workgroups of `size` invocations,
 * folded into y when x would pass WebGPU's 65535 limit. The kernel recovers
 * the item index with `flatIndex` of `kernels/include/grid.wgsl`.
 */
export function grid(n: number, size: number): [number, number] {
  const total = Math.ceil(n / size);
  const x = Math.min(total, 65535);
  return [x, Math.ceil(total / Math.max(x, 1))];
}
