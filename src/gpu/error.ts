/**
 * The GPU layer's error type.
 * @module
 */

/** An error from the GPU layer, with a message meant for the end user. */
export class GpuError extends Error {
  /** Always `"GpuError"`. */
  override name = "GpuError";
}
