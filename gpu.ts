/**
 * deno-loftr's advanced entry point: the layers under the {@link Matcher}
 * of `mod.ts`, for running LoFTR's stages or single kernels on your own
 * tensors, writing new kernels on the same GPU layer, or benchmarking.
 *
 * * The GPU layer (src/gpu/): {@link Gpu} (device, kernels, tensors,
 *   dispatch, profiler, read-back) and its types.
 * * The kernels (src/kernels/): one function per kernel family.
 * * The model (src/model/): {@link LoFTR} and its stages, the architecture
 *   inferred from weights, parameter upload.
 * * Geometry internals: the minimal solvers and the IMC rotation and
 *   translation errors.
 *
 * ```ts
 * import { Gpu, linear } from "./gpu.ts";
 *
 * const gpu = await Gpu.create();
 * const x = gpu.tensor([2, 3], Float32Array.of(1, 2, 3, 4, 5, 6));
 * const w = { weight: gpu.tensor([1, 3], Float32Array.of(1, 1, 1)), bias: gpu.tensor([1], Float32Array.of(0)) };
 * console.log(await gpu.read(await linear(gpu, x, w))); // [6, 15]
 * gpu.destroy();
 * ```
 * @module
 */
import { quietMesaWarning } from "./src/io/mesa.ts";

quietMesaWarning();

export * from "./src/gpu/mod.ts";
export * from "./src/kernels/mod.ts";
export * from "./src/model/mod.ts";
export {
  eightPoint,
  enforceRank2,
  fourPoint,
  rotationError,
  sevenPoint,
  translationError,
} from "./src/geometry/mod.ts";
