/**
 * Tensors: storage buffers with a shape and an element type, and the slot
 * ranges whose live part is counted on the GPU.
 * @module
 */

/**
 * Element types a tensor can hold: `f16` (2 bytes; on the host it is a
 * `Float32Array`, rounded to the nearest f16 on upload and widened exactly on
 * read-back) and the 4-byte `f32`, `u32` and `i32`.
 */
export type DType = "f16" | "f32" | "u32" | "i32";

/** Storage precision of the kernels that have an f16 variant (the backbone's convolutions). */
export type Precision = "f32" | "f16";

/** Bytes per element of each {@link DType}. */
export const ELEMENT_BYTES: Readonly<Record<DType, number>> = { f16: 2, f32: 4, u32: 4, i32: 4 };

/** A buffer on the GPU with a shape; row-major, elements of {@link ELEMENT_BYTES} each. */
export interface Tensor {
  /** The storage buffer. */
  readonly buffer: GPUBuffer;
  /** Shape, outermost first. */
  readonly shape: readonly number[];
  /** Number of elements (product of the shape). */
  readonly size: number;
  /** Element type. */
  readonly dtype: DType;
}

/** Host-side typed array for a dtype (`Float32Array` for `f16` too). */
export type HostArray<D extends DType> = D extends "f32" | "f16" ? Float32Array
  : D extends "u32" ? Uint32Array
  : Int32Array;

/**
 * Slots `[first, first + slots)` of a numbering whose live part is counted on
 * the GPU: word 0 of `counter` holds the count (e.g. a coarse match list), and
 * slots at or past it are dead.
 */
export interface LiveSlots {
  /** Buffer whose first `u32` is the number of live slots. */
  counter: Tensor;
  /** First slot of this range. */
  first: number;
  /** Slots in this range. */
  slots: number;
}

/** Number of elements of a shape. */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
