/**
 * The device: one WebGPU device with the kernel (pipeline) cache, the buffer
 * pool behind tensors, the bind-group cache, the profiler and read-back. Every
 * kernel module goes through it and nothing else touches `navigator.gpu`.
 * @module
 */
import { BindGroupCache } from "./bind_groups.ts";
import { BufferPool, type MemoryStats } from "./buffers.ts";
import type { Dispatch, Kernel, LiveDispatch } from "./dispatch.ts";
import { GpuError } from "./error.ts";
import { type KernelTiming, Profiler } from "./profiler.ts";
import {
  type DType,
  ELEMENT_BYTES,
  type HostArray,
  type Precision,
  shapeSize,
  type Tensor,
} from "./tensor.ts";
import {
  f16Variant,
  loadWgsl,
  packUniforms,
  parseInterface,
  shaderName,
  sourceLine,
  type WgslSource,
} from "./wgsl.ts";

/** Default {@link GpuOptions.memoryBudget}: 768 MiB. */
export const DEFAULT_MEMORY_BUDGET = 768 * 2 ** 20;

/** Options of {@link Gpu.create}. */
export interface GpuOptions {
  /** Adapter preference (default `"high-performance"`). */
  powerPreference?: GPUPowerPreference;
  /**
   * Soft cap on storage-buffer memory, in bytes (default
   * {@link DEFAULT_MEMORY_BUDGET}): before an allocation would pass it, pooled
   * buffers (released tensors kept for reuse) are freed, oldest first. Live
   * tensors are never freed, so a computation that needs more still runs;
   * below the cap, buffers are reused across calls. `Infinity` keeps every
   * pooled buffer.
   */
  memoryBudget?: number;
  /**
   * Which implementation's kernel shapes to use (default `"cpu"` on a CPU
   * fallback adapter such as lavapipe, else `"gpu"`): see {@link KernelTuning}.
   */
  tuning?: KernelTuning;
}

/**
 * Kernel shapes tuned for where WebGPU runs. `"cpu"`: few invocations per
 * workgroup, each with a long serial loop (a CPU implementation runs a
 * workgroup's invocations as the lanes of one SIMD loop, so parallel
 * reductions only add barriers). `"gpu"`: workgroups of whole warps, with
 * reductions shared across a workgroup. Both compute the same values, up to
 * the rounding order of sums; the tests run each on every adapter.
 */
export type KernelTuning = "cpu" | "gpu";

const INDIRECT_ARGS = 0x80 | 0x100; // STORAGE | INDIRECT

/**
 * A WebGPU device with the kernel cache and buffer pool the model uses.
 * Create one with {@link Gpu.create}; call {@link Gpu.destroy} when done.
 */
export class Gpu {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Adapter description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)` or the GPU's name. */
  readonly adapterName: string;
  /** Whether the adapter is a CPU fallback (lavapipe/llvmpipe, SwiftShader). */
  readonly isFallback: boolean;
  /** The kernel shapes in use ({@link GpuOptions.tuning}). */
  readonly tuning: KernelTuning;

  #sources = new Map<string, Promise<WgslSource>>();
  #kernels = new Map<string, Promise<Kernel>>();
  #buffers: BufferPool;
  #bindGroups: BindGroupCache;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #transient: GPUBuffer[] = []; // buffers to destroy once the commands using them are submitted
  #liveWorkgroups: Kernel | null = null; // indirect.wgsl
  #lost: string | null = null;
  #error: string | null = null;
  #profiler: Profiler | null = null;

  private constructor(
    device: GPUDevice,
    adapterName: string,
    isFallback: boolean,
    tuning: KernelTuning,
    budget: number,
  ) {
    this.device = device;
    this.adapterName = adapterName;
    this.isFallback = isFallback;
    this.tuning = tuning;
    this.#bindGroups = new BindGroupCache(device, (owned) => this.#transient.push(...owned));
    this.#buffers = new BufferPool(device, budget, () => {
      this.flush(); // recorded commands may still use the buffers: submit those first
      this.#bindGroups.forget();
    });
    device.lost.then((info) => {
      this.#lost = info.message || info.reason;
    });
    // Validation errors are reported asynchronously; keep the first and raise it
    // at the next dispatch or read-back instead of computing garbage silently.
    device.addEventListener("uncapturederror", (e) => {
      this.#error ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  /**
   * Finds a WebGPU adapter and opens a device with the largest buffer limits it
   * offers. Throws a {@link GpuError} that says how to get an adapter when
   * there is none.
   */
  static async create(options: GpuOptions = {}): Promise<Gpu> {
    const budget = memoryBudget(options);
    if (typeof navigator === "undefined" || !("gpu" in navigator)) {
      throw new GpuError(
        "WebGPU is not available here (navigator.gpu is missing): use Deno 2 or newer, " +
          "or a browser with WebGPU enabled",
      );
    }
    const adapter = await navigator.gpu.requestAdapter({
      powerPreference: options.powerPreference ?? "high-performance",
    });
    if (!adapter) {
      throw new GpuError(
        "no WebGPU adapter found: install your GPU's Vulkan driver, or for the CPU fallback " +
          "run `sudo apt-get install mesa-vulkan-drivers libvulkan1`",
      );
    }
    const l = adapter.limits;
    const requiredFeatures = (["timestamp-query", "shader-f16"] as const).filter((f) =>
      adapter.features.has(f)
    );
    const device = await adapter.requestDevice({
      requiredFeatures,
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      },
    });
    const info = adapter.info;
    // Chromium names SwiftShader by vendor and architecture only; Firefox leaves every field empty.
    const name = info.description ||
      [info.vendor, info.architecture, info.device].filter(Boolean).join(" ") ||
      (info.isFallbackAdapter ? "unnamed fallback adapter" : "unnamed adapter");
    return await Gpu.fromDevice(device, {
      name,
      isFallback: info.isFallbackAdapter || /llvmpipe|lavapipe/i.test(name),
      memoryBudget: budget,
      tuning: options.tuning,
    });
  }

  /**
   * Wraps a device opened elsewhere (e.g. shared with a renderer). Its limits
   * are those it was opened with; {@link Gpu.destroy} destroys it.
   */
  static async fromDevice(
    device: GPUDevice,
    options: {
      name?: string;
      isFallback?: boolean;
      memoryBudget?: number;
      tuning?: KernelTuning;
    } = {},
  ): Promise<Gpu> {
    const budget = memoryBudget(options);
    const isFallback = options.isFallback ?? false;
    const tuning = options.tuning ?? (isFallback ? "cpu" : "gpu");
    if (tuning !== "cpu" && tuning !== "gpu") {
      throw new GpuError(`tuning must be "cpu" or "gpu", got ${JSON.stringify(tuning)}`);
    }
    const gpu = new Gpu(device, options.name ?? "external device", isFallback, tuning, budget);
    gpu.#liveWorkgroups = await gpu.kernel(new URL("./indirect.wgsl", import.meta.url));
    return gpu;
  }

  /** Whether the device offers GPU timestamp queries. */
  get hasTimestamps(): boolean {
    return this.device.features.has("timestamp-query");
  }

  /** Whether the device has WebGPU's `shader-f16` feature: kernels at precision `"f16"` can run. */
  get hasShaderF16(): boolean {
    return this.device.features.has("shader-f16");
  }

  /**
   * Throws a {@link GpuError} that names the missing `shader-f16` feature
   * when `precision` is `"f16"` and the device cannot run f16 kernels.
   */
  requirePrecision(precision: Precision): void {
    if (precision === "f16" && !this.hasShaderF16) {
      throw new GpuError(
        `precision "f16" needs the WebGPU feature "shader-f16", which ${this.adapterName} ` +
          `does not offer; use precision "f32"`,
      );
    }
  }

  /** Largest storage buffer that can be bound, in bytes. */
  get maxBindingBytes(): number {
    return this.device.limits.maxStorageBufferBindingSize;
  }

  /**
   * The kernel for entry point `entryPoint` of the WGSL file at `shader`
   * (loaded with its `#include`s, see `wgsl.ts`), specialised by the
   * `override` constants given, with its storage element type `elem` at
   * `precision` (default `"f32"`; `"f16"` needs a file that declares `elem`
   * and a device with `shader-f16`). Cached: asking again for the same file,
   * entry point, constants and precision returns the same kernel.
   */
  kernel(
    shader: URL,
    entryPoint = "main",
    constants: Record<string, number> = {},
    precision: Precision = "f32",
  ): Promise<Kernel> {
    this.requirePrecision(precision);
    const key = `${shader.href}:${entryPoint}:${precision}:${JSON.stringify(constants)}`;
    let k = this.#kernels.get(key);
    if (!k) {
      k = this.#build(shader, entryPoint, constants, precision);
      this.#kernels.set(key, k);
    }
    return k;
  }

  /** Number of distinct kernels (pipelines) built so far. */
  get pipelineCount(): number {
    return this.#kernels.size;
  }

  async #build(
    shader: URL,
    entryPoint: string,
    constants: Record<string, number>,
    precision: Precision,
  ): Promise<Kernel> {
    const file = shaderName(shader);
    let loading = this.#sources.get(shader.href);
    if (!loading) {
      loading = loadWgsl(shader);
      this.#sources.set(shader.href, loading);
    }
    const source = precision === "f16" ? f16Variant(await loading, file) : await loading;
    const module = this.device.createShaderModule({ label: file, code: source.code });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length) {
      throw new GpuError(
        errors.map((m) => `${sourceLine(source, m.lineNum)}: ${m.message.trim()}`).join("; "),
      );
    }
    const label = `${file}:${entryPoint}`;
    const pipeline = await this.device.createComputePipelineAsync({
      label,
      layout: "auto",
      compute: { module, entryPoint, constants },
    });
    return { pipeline, label, interface: parseInterface(source.code, file) };
  }

  /**
   * A tensor of the given shape and element type (default `f32`). Its buffer
   * comes from the reuse pool when one of the same byte size is free. With
   * `data`, the contents are uploaded (rounded to the nearest f16, ties to
   * even, for `f16`); without, the contents are undefined (kernels must write
   * every element).
   */
  tensor<D extends DType = "f32">(
    shape: readonly number[],
    data?: HostArray<D>,
    dtype: D = "f32" as D,
  ): Tensor {
    const size = shapeSize(shape);
    if (data && data.length !== size) {
      throw new GpuError(`tensor data has ${data.length} elements, shape [${shape}] needs ${size}`);
    }
    const bytes = Math.max(16, Math.ceil((size * ELEMENT_BYTES[dtype]) / 16) * 16);
    const limit = Math.min(this.device.limits.maxBufferSize, this.maxBindingBytes);
    if (bytes > limit) {
      throw new GpuError(
        `a ${(bytes / 2 ** 20).toFixed(0)} MiB tensor [${shape}] exceeds this adapter's ` +
          `${(limit / 2 ** 20).toFixed(0)} MiB buffer limit; use a smaller input size`,
      );
    }
    const buffer = this.#buffers.take(bytes);
    if (data) {
      // Commands recorded so far may still read this (reused) buffer's old
      // contents; writeBuffer would overtake them, so submit them first.
      this.flush();
      // writeBuffer takes whole 4-byte words: an odd f16 count gets one zero more.
      const bits = dtype === "f16" ? new Float16Array(size + (size % 2)) : data;
      if (bits !== data) bits.set(data);
      // Typed arrays over a SharedArrayBuffer are accepted by Deno's WebGPU too.
      this.device.queue.writeBuffer(buffer, 0, bits as ArrayBufferView<ArrayBuffer>);
    }
    return { buffer, shape: [...shape], size, dtype };
  }

  /** Returns tensors' buffers to the reuse pool. Using a tensor after release is an error. */
  release(...tensors: (Tensor | null | undefined)[]): void {
    for (const t of tensors) if (t) this.#buffers.release(t.buffer);
  }

  /** Frees the buffers of the reuse pool (live tensors stay). */
  trim(): void {
    this.#buffers.trim();
  }

  /** Current and peak storage-buffer memory. */
  memory(): MemoryStats {
    return this.#buffers.memory();
  }

  /** Resets the peak of {@link Gpu.memory} to the current allocation. */
  resetPeak(): void {
    this.#buffers.resetPeak();
  }

  /** Records one kernel dispatch. Work is submitted at {@link Gpu.flush} or on read-back. */
  dispatch(d: Dispatch): void {
    this.#checkLost();
    const [x, y = 1, z = 1] = d.workgroups;
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new GpuError(`dispatch of [${x}, ${y}, ${z}] workgroups exceeds the limit ${max}`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    const uniforms = packUniforms(d.kernel.interface, d.uniforms, d.kernel.label);
    const bindGroup = this.#bindGroups.bindGroup(d.kernel, d.bindings, uniforms);
    const args = d.live ? this.#liveArgs(d.live) : null;
    if (this.#profiler) {
      // One pass per dispatch, its start and end stamped into the query set.
      this.#endPass();
      const timing = { kernel: d.kernel.label, ms: NaN, flops: d.flops, bytes: d.bytes };
      const descriptor = this.#profiler.pass(timing, () => this.#commands(), () => this.flush());
      this.#pass = this.#commands().beginComputePass(descriptor);
    } else if (!this.#pass) {
      this.#pass = this.#commands().beginComputePass();
    }
    const pass = this.#pass!;
    if (args) {
      // The workgroup counts are computed in the same pass, right before.
      pass.setPipeline(this.#liveWorkgroups!.pipeline);
      pass.setBindGroup(0, args.bindGroup);
      pass.dispatchWorkgroups(1);
    }
    pass.setPipeline(d.kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    if (args) pass.dispatchWorkgroupsIndirect(args.buffer, 0);
    else pass.dispatchWorkgroups(x, y, z);
    if (this.#profiler) this.#endPass();
  }

  /**
   * The indirect-dispatch arguments of `live`, and the bind group of the
   * kernel that writes them right before each use (kept like other bind
   * groups: a later identical live dispatch rewrites the same arguments from
   * the count it finds then).
   */
  #liveArgs(live: LiveDispatch): { buffer: GPUBuffer; bindGroup: GPUBindGroup } {
    if (live.slots * live.perSlot >= 2 ** 32) {
      throw new GpuError(`live dispatch of ${live.slots} × ${live.perSlot} units overflows u32`);
    }
    const kernel = this.#liveWorkgroups!;
    const uniforms = {
      first: live.first,
      slots: live.slots,
      per_slot: live.perSlot,
      per_group: live.perGroup,
      x: live.x ?? 0,
    };
    const words = packUniforms(kernel.interface, uniforms, kernel.label);
    const key = `live|${this.#bindGroups.idOf(live.counter.buffer)}|${words}`;
    return this.#bindGroups.cached(key, () => {
      const buffer = this.device.createBuffer({ size: 16, usage: INDIRECT_ARGS });
      const bindGroup = this.#bindGroups.bindGroup(
        kernel,
        { counter: live.counter, args: buffer },
        words,
      );
      return { value: { buffer, bindGroup }, owned: [buffer] };
    });
  }

  /** Bind groups created so far: after a warm-up run, a repeated run creates none. */
  get bindGroupCount(): number {
    return this.#bindGroups.created;
  }

  /**
   * Starts timing every dispatch on the GPU (timestamp queries where the
   * adapter offers them). Profiling serialises dispatches into separate
   * passes, so end-to-end times are a little slower while it is on.
   */
  startProfile(): void {
    this.flush();
    this.#profiler = new Profiler(this.device);
  }

  /** Stops profiling and returns the timing of each dispatch since {@link Gpu.startProfile}. */
  async endProfile(): Promise<KernelTiming[]> {
    const profiler = this.#profiler;
    if (!profiler) throw new GpuError("endProfile() without startProfile()");
    this.#endPass();
    profiler.resolve(() => this.#commands(), () => this.flush());
    await this.sync();
    this.#profiler = null;
    return await profiler.finish();
  }

  /** Records a buffer-to-buffer copy of `bytes` bytes (default: all of `src`). */
  copy(
    src: Tensor,
    dst: Tensor,
    bytes = src.size * ELEMENT_BYTES[src.dtype],
    srcOffset = 0,
    dstOffset = 0,
  ): void {
    this.#endPass();
    this.#commands().copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, bytes);
  }

  /** Sets every element of a tensor to zero. */
  zero(t: Tensor): void {
    this.#endPass();
    this.#commands().clearBuffer(t.buffer);
  }

  /** Submits the commands recorded so far. */
  flush(): void {
    this.#endPass();
    if (this.#encoder) {
      this.device.queue.submit([this.#encoder.finish()]);
      this.#encoder = null;
    }
    for (const u of this.#transient) u.destroy();
    this.#transient = [];
  }

  /** Waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.#checkLost();
  }

  /**
   * Copies the first `count` elements (default: all) of a tensor back to the
   * CPU (an `f16` tensor's widened to float32). This is the only way data
   * leaves the GPU.
   */
  async read<D extends DType>(t: Tensor & { dtype: D }, count?: number): Promise<HostArray<D>>;
  /** Copies a tensor of any dtype back to the CPU (see the overload above). */
  async read(t: Tensor, count?: number): Promise<Float32Array | Uint32Array | Int32Array>;
  async read(t: Tensor, count = t.size): Promise<Float32Array | Uint32Array | Int32Array> {
    const bytes = Math.ceil((count * ELEMENT_BYTES[t.dtype]) / 4) * 4;
    const Ctor = t.dtype === "u32" ? Uint32Array : t.dtype === "i32" ? Int32Array : Float32Array;
    if (count === 0) return new Ctor(0);
    const staging = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.#endPass();
    this.#commands().copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.#checkLost();
      throw e;
    }
    const range = staging.getMappedRange();
    const out = t.dtype === "f16"
      ? new Float32Array(new Float16Array(range, 0, count))
      : new Ctor(range.slice(0));
    staging.destroy();
    this.#checkLost();
    return out;
  }

  /** Releases every buffer and the device. The object is unusable afterwards. */
  destroy(): void {
    this.flush();
    this.#buffers.destroy();
    this.device.destroy();
  }

  /** The command encoder recording now (a new one after a flush). */
  #commands(): GPUCommandEncoder {
    this.#endPass();
    return this.#encoder ??= this.device.createCommandEncoder();
  }

  #endPass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }

  #checkLost(): void {
    if (this.#lost !== null) throw new GpuError(`the GPU device was lost: ${this.#lost}`);
    if (this.#error !== null) throw new GpuError(`WebGPU error: ${this.#error.trim()}`);
  }
}

/** The memory budget of `options`, checked. */
function memoryBudget(options: { memoryBudget?: number }): number {
  const budget = options.memoryBudget ?? DEFAULT_MEMORY_BUDGET;
  if (!(budget > 0)) throw new GpuError(`memoryBudget must be positive, got ${budget}`);
  return budget;
}
