/**
 * Peak GPU buffer memory of a whole pair at any input size, without an
 * adapter that can hold it: the model runs on a stand-in device that records
 * buffer sizes and computes nothing, so the GPU layer's own accounting
 * (`Gpu.memory().peak`, the figure the real runs report) is replayed exactly.
 * The allocations do not depend on the values computed (matching tiles and
 * fine batches are sized from the input, not from the match count).
 * @module
 */
import { Gpu, type KernelTuning, type Precision } from "../src/gpu/mod.ts";
import { LoFTR } from "../src/model/loftr.ts";
import { type SyntheticModel, syntheticWeights } from "./synthetic_weights.ts";

/** Peak buffer memory of one pair at one size, in MiB. */
export interface MemoryRow {
  model: SyntheticModel;
  size: string;
  /** The weights alone. */
  weightsMiB: number;
  /** After both images' backbone and positional encoding. */
  featuresPeakMiB: number;
  /** The whole pair: features, then matching and refinement. */
  pairPeakMiB: number;
}

const MiB = 2 ** 20;

/** A WebGPU device that allocates and computes nothing: enough for the GPU layer. */
function recordingDevice(): GPUDevice {
  const noop = () => {};
  const pass = {
    setPipeline: noop,
    setBindGroup: noop,
    dispatchWorkgroups: noop,
    dispatchWorkgroupsIndirect: noop,
    end: noop,
  };
  const device = {
    lost: new Promise(noop),
    addEventListener: noop,
    features: new Set(["shader-f16"]), // so that either precision replays
    limits: {
      maxBufferSize: 2 ** 40,
      maxStorageBufferBindingSize: 2 ** 40,
      maxComputeWorkgroupsPerDimension: 65535, // WebGPU's default, as on every GPU
    },
    createBuffer: ({ size }: { size: number }) => ({
      size,
      destroy: noop,
      unmap: noop,
      getMappedRange: () => new ArrayBuffer(size),
    }),
    createShaderModule: () => ({ getCompilationInfo: () => Promise.resolve({ messages: [] }) }),
    createComputePipelineAsync: ({ label }: { label: string }) =>
      Promise.resolve({ label, getBindGroupLayout: () => ({}) }),
    createBindGroup: () => ({}),
    createCommandEncoder: () => ({
      beginComputePass: () => pass,
      clearBuffer: noop,
      copyBufferToBuffer: noop,
      finish: () => ({}),
    }),
    queue: { writeBuffer: noop, submit: noop, onSubmittedWorkDone: () => Promise.resolve() },
    destroy: noop,
  };
  return device as unknown as GPUDevice;
}

/** Options of {@link pairMemory}. */
export interface PairMemoryOptions {
  /** Measure on this device instead (it should be fresh: its pool is trimmed, its peak reset). */
  gpu?: Gpu;
  /** Backbone precision (default `f32`). */
  precision?: Precision;
  /** Kernel tuning of the replay (default `"gpu"`: the sizes replayed are a GPU's). */
  tuning?: KernelTuning;
}

/**
 * Peak buffer memory of a pair of `width`×`height` images (default memory
 * budget), replayed without computing, or measured on `options.gpu`.
 */
export async function pairMemory(
  model: SyntheticModel,
  [width, height]: [number, number],
  options: PairMemoryOptions = {},
): Promise<MemoryRow> {
  const { precision = "f32", tuning = "gpu" } = options;
  const gpu = options.gpu ??
    await Gpu.fromDevice(recordingDevice(), { name: "allocation replay", tuning });
  const loftr = LoFTR.create(gpu, syntheticWeights(model), { precision });
  const weights = gpu.memory().inUse;
  gpu.trim();
  gpu.resetPeak();
  const features = [];
  for (let k = 0; k < 2; k++) {
    const image = gpu.tensor([1, height, width]);
    features.push(await loftr.features(image));
    gpu.release(image);
  }
  const featuresPeak = gpu.memory().peak;
  const list = await loftr.match(features[0], features[1]);
  gpu.release(list.matches.buffer, list.refined);
  for (const f of features) loftr.releaseFeatures(f);
  await gpu.sync();
  return {
    model,
    size: `${width}x${height}`,
    weightsMiB: weights / MiB,
    featuresPeakMiB: featuresPeak / MiB,
    pairPeakMiB: gpu.memory().peak / MiB,
  };
}
