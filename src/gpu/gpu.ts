/**
 * The GPU layer: one WebGPU device, a cache of compute pipelines built from the
 * WGSL files in `shaders/`, pooled storage buffers ("tensors"), per-dispatch
 * uniform blocks, and read-back. Every kernel module in `src/` goes through
 * this layer and nothing else touches `navigator.gpu`.
 *
 * Kernel conventions (every `.wgsl` file in `shaders/` follows them):
 * - `@group(0) @binding(0)` is a uniform block: first the `u32` fields, then
 *   the `f32` fields, in the order the caller passes them to {@link Gpu.dispatch}.
 *   A kernel without parameters still declares the block (one `u32` field).
 * - `@binding(1)`, `@binding(2)`, … are the storage buffers, in the order of
 *   `buffers` in {@link Gpu.dispatch}.
 * - Values that differ per specialisation (activation, kernel size, …) are
 *   WGSL `override` constants, passed as `constants` to {@link Gpu.kernel}.
 * - A kernel with an f16 variant declares the element type of the tensors
 *   it keeps in storage at that precision (feature maps, filters) as
 *   `alias elem = f32;` on a line of its own, and uses `elem` for them. WGSL
 *   has no generics and override constants cannot change types, so asked
 *   for precision `"f16"`, {@link Gpu.kernel} rewrites that line to
 *   `alias elem = f16;` and prepends `enable f16;` (on the first line: line
 *   numbers in compiler messages stay those of the file). The device must
 *   have WebGPU's `shader-f16` feature ({@link Gpu.hasShaderF16}).
 *
 * @module
 */

/** An error from the GPU layer, with a message meant for the end user. */
export class GpuError extends Error {
  /** Always `"GpuError"`. */
  override name = "GpuError";
}

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
  /** Pipeline from {@link Gpu.kernel}. */
  pipeline: GPUComputePipeline;
  /**
   * Storage buffers, bound at bindings 1, 2, … in this order; `null` leaves a
   * binding out (for entry points that do not use every binding of their file).
   */
  buffers: (Tensor | GPUBuffer | null)[];
  /** `u32` fields of the uniform block (binding 0), first. */
  u32?: number[];
  /** `f32` fields of the uniform block, after the `u32` ones. */
  f32?: number[];
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

/** One dispatch timed by the profiler ({@link Gpu.startProfile}). */
export interface KernelTiming {
  /** `<file>:<entry point>` of the kernel. */
  kernel: string;
  /** GPU time in milliseconds (timestamp queries), or `NaN` without them. */
  ms: number;
  /** Floating-point operations, when the dispatching module counts them. */
  flops?: number;
  /** Bytes read and written (compulsory traffic), when the dispatching module counts them. */
  bytes?: number;
}

/** Memory figures of a {@link Gpu}, in bytes. */
export interface MemoryStats {
  /** Bytes of storage buffers held by live tensors. */
  inUse: number;
  /** Bytes held by live tensors and by the reuse pool. */
  allocated: number;
  /** Highest value `allocated` has reached. */
  peak: number;
}

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

const STORAGE = 0x80 | 0x8 | 0x4; // STORAGE | COPY_DST | COPY_SRC
const INDIRECT_ARGS = 0x80 | 0x100; // STORAGE | INDIRECT
const PROFILE_SLOTS = 2048; // dispatches timed per query-set resolve
const MAX_BIND_GROUPS = 8192; // cached bind groups; past it the cache starts over

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * A WebGPU device with the pipeline cache and buffer pool the model uses.
 * Create one with {@link Gpu.create}; call {@link Gpu.destroy} when done.
 */
export class Gpu {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Adapter description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)` or the GPU's name. */
  readonly adapterName: string;
  /** Whether the adapter is a CPU fallback (lavapipe/llvmpipe). */
  readonly isFallback: boolean;
  /** The kernel shapes in use ({@link GpuOptions.tuning}). */
  readonly tuning: KernelTuning;

  #sources = new Map<string, Promise<string>>();
  #pipelines = new Map<string, Promise<GPUComputePipeline>>();
  #pool: GPUBuffer[] = []; // released buffers, for reuse, oldest first
  #budget = DEFAULT_MEMORY_BUDGET;
  #live = new Set<GPUBuffer>();
  #bytesLive = 0;
  #bytesPooled = 0;
  #peak = 0;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #transient: GPUBuffer[] = []; // buffers to destroy once the commands using them are submitted
  // Bind groups with the small buffers they own (uniforms, indirect arguments),
  // by pipeline, bound buffers and uniform values (#key).
  #bindGroups = new Map<string, { value: unknown; owned: GPUBuffer[] }>();
  #bindGroupsCreated = 0;
  #ids = new WeakMap<object, number>();
  #nextId = 0;
  #liveWorkgroups: GPUComputePipeline | null = null; // indirect.wgsl
  #lost: string | null = null;
  #error: string | null = null;
  #profile: {
    set: GPUQuerySet | null;
    records: KernelTiming[];
    pending: KernelTiming[];
    reads: Promise<void>[];
  } | null = null;

  private constructor(
    device: GPUDevice,
    adapterName: string,
    isFallback: boolean,
    tuning: KernelTuning,
  ) {
    this.device = device;
    this.adapterName = adapterName;
    this.isFallback = isFallback;
    this.tuning = tuning;
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
    quietMesaWarning();
    if (typeof navigator === "undefined" || !("gpu" in navigator)) {
      throw new GpuError(
        "WebGPU is not available in this Deno (navigator.gpu is missing); use Deno 2 or newer.",
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
    const name = info.description || [info.vendor, info.device].filter(Boolean).join(" ") ||
      "unknown adapter";
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
    const gpu = new Gpu(device, options.name ?? "external device", isFallback, tuning);
    gpu.#budget = budget;
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
   * The compute pipeline for entry point `entryPoint` of the WGSL file at `shader`,
   * specialised by the `override` constants given, with its storage element
   * type `elem` at `precision` (default `"f32"`; `"f16"` needs a file that
   * declares `elem`, see the module's conventions, and a device with
   * `shader-f16`). Cached: asking again for the same file, entry point,
   * constants and precision returns the same pipeline.
   */
  kernel(
    shader: URL,
    entryPoint = "main",
    constants: Record<string, number> = {},
    precision: Precision = "f32",
  ): Promise<GPUComputePipeline> {
    this.requirePrecision(precision);
    const key = `${shader.href}:${entryPoint}:${precision}:${JSON.stringify(constants)}`;
    let p = this.#pipelines.get(key);
    if (!p) {
      p = this.#build(shader, entryPoint, constants, precision);
      this.#pipelines.set(key, p);
    }
    return p;
  }

  /** Number of distinct pipelines built so far. */
  get pipelineCount(): number {
    return this.#pipelines.size;
  }

  async #build(
    shader: URL,
    entryPoint: string,
    constants: Record<string, number>,
    precision: Precision,
  ): Promise<GPUComputePipeline> {
    const file = shaderName(shader);
    let source = this.#sources.get(shader.href);
    if (!source) {
      source = loadShader(shader);
      this.#sources.set(shader.href, source);
    }
    const code = precision === "f16" ? f16Variant(await source, file) : await source;
    const module = this.device.createShaderModule({ label: file, code });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === "error");
    if (errors.length) {
      throw new GpuError(`${file}: ${errors.map((m) => m.message.trim()).join("; ")}`);
    }
    return await this.device.createComputePipelineAsync({
      label: `${file}:${entryPoint}`,
      layout: "auto",
      compute: { module, entryPoint, constants },
    });
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
    const size = product(shape);
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
    let buffer = this.#takeFromPool(bytes);
    if (!buffer) {
      this.#evictFor(bytes);
      buffer = this.device.createBuffer({ size: bytes, usage: STORAGE });
      this.#id(buffer); // numbered at creation: the pool's tie-break
    }
    this.#live.add(buffer);
    this.#bytesLive += buffer.size;
    this.#peak = Math.max(this.#peak, this.#bytesLive + this.#bytesPooled);
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
    for (const t of tensors) {
      if (!t || !this.#live.delete(t.buffer)) continue;
      this.#bytesLive -= t.buffer.size;
      this.#bytesPooled += t.buffer.size;
      this.#pool.push(t.buffer);
    }
  }

  /**
   * The smallest pooled buffer of at least `bytes` and at most twice that
   * (best fit), the first created among equals: which buffer a run gets
   * depends on the pool's contents only, not on its order, so a repeated run
   * gets the same buffers and can reuse its bind groups (#bindGroup).
   */
  #takeFromPool(bytes: number): GPUBuffer | undefined {
    let best = -1;
    this.#pool.forEach((b, k) => {
      if (b.size < bytes || b.size > 2 * bytes) return;
      const other = this.#pool[best];
      if (
        best < 0 || b.size < other.size || (b.size === other.size && this.#id(b) < this.#id(other))
      ) best = k;
    });
    if (best < 0) return undefined;
    const [buffer] = this.#pool.splice(best, 1);
    this.#bytesPooled -= buffer.size;
    return buffer;
  }

  /** Frees pooled buffers, oldest first, until `bytes` more fit in the memory budget. */
  #evictFor(bytes: number): void {
    if (this.#bytesLive + this.#bytesPooled + bytes <= this.#budget || !this.#pool.length) return;
    this.flush(); // recorded commands may still use them: submit those first
    this.#forgetBindGroups();
    while (this.#pool.length && this.#bytesLive + this.#bytesPooled + bytes > this.#budget) {
      const b = this.#pool.shift()!;
      this.#bytesPooled -= b.size;
      b.destroy();
    }
  }

  /** Frees the buffers of the reuse pool (live tensors stay). */
  trim(): void {
    this.flush();
    this.#forgetBindGroups();
    for (const b of this.#pool) b.destroy();
    this.#pool = [];
    this.#bytesPooled = 0;
  }

  /** Current and peak storage-buffer memory. */
  memory(): MemoryStats {
    return {
      inUse: this.#bytesLive,
      allocated: this.#bytesLive + this.#bytesPooled,
      peak: this.#peak,
    };
  }

  /** Resets the peak of {@link Gpu.memory} to the current allocation. */
  resetPeak(): void {
    this.#peak = this.#bytesLive + this.#bytesPooled;
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
    const bindGroup = this.#bindGroup(d.pipeline, d.buffers, d.u32, d.f32);
    const args = d.live ? this.#liveArgs(d.live) : null;
    const profile = this.#profile;
    if (profile) {
      // One pass per dispatch, its start and end stamped into the query set.
      this.#endPass();
      if (profile.pending.length === PROFILE_SLOTS) this.#resolveProfile();
      const k = profile.pending.length;
      profile.pending.push({ kernel: d.pipeline.label, ms: NaN, flops: d.flops, bytes: d.bytes });
      this.#encoder ??= this.device.createCommandEncoder();
      this.#pass = this.#encoder.beginComputePass(
        profile.set
          ? {
            timestampWrites: {
              querySet: profile.set,
              beginningOfPassWriteIndex: 2 * k,
              endOfPassWriteIndex: 2 * k + 1,
            },
          }
          : {},
      );
    } else if (!this.#pass) {
      this.#encoder ??= this.device.createCommandEncoder();
      this.#pass = this.#encoder.beginComputePass();
    }
    const pass = this.#pass!;
    if (args) {
      // The workgroup counts are computed in the same pass, right before.
      pass.setPipeline(this.#liveWorkgroups!);
      pass.setBindGroup(0, args.bindGroup);
      pass.dispatchWorkgroups(1);
    }
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, bindGroup);
    if (args) pass.dispatchWorkgroupsIndirect(args.buffer, 0);
    else pass.dispatchWorkgroups(x, y, z);
    if (profile) this.#endPass();
  }

  /** A bind group: the uniform block of `u32` then `f32` fields at binding 0, `buffers` after. */
  /**
   * The bind group of a dispatch: binding 0 a uniform buffer holding `u32`
   * then `f32`, bindings 1, 2, … the buffers. Creating one costs more CPU time
   * than recording the dispatch (about 20 µs against 0.3 µs in Deno), so each
   * is kept, with its uniform buffer, for the next dispatch of the same
   * pipeline on the same buffers with the same uniform values: a model run
   * repeats every dispatch of the previous run, since the pool hands out the
   * same buffers in the same order.
   */
  #bindGroup(
    pipeline: GPUComputePipeline,
    buffers: (Tensor | GPUBuffer | null)[],
    u32: number[] = [],
    f32: number[] = [],
  ): GPUBindGroup {
    const bound = buffers.map((b) => b && ("buffer" in b ? b.buffer : b));
    return this.#cached(this.#key("bind", pipeline, bound, u32, f32), () => {
      const words = Math.max(4, Math.ceil((u32.length + f32.length) / 4) * 4);
      const uniform = this.device.createBuffer({
        size: words * 4,
        usage: GPUBufferUsage.UNIFORM,
        mappedAtCreation: true,
      });
      const range = uniform.getMappedRange();
      new Uint32Array(range).set(u32);
      new Float32Array(range).set(f32, u32.length);
      uniform.unmap();
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform } }];
      bound.forEach((b, i) => {
        if (b) entries.push({ binding: i + 1, resource: { buffer: b } });
      });
      this.#bindGroupsCreated++;
      const group = this.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries,
      });
      return { value: group, owned: [uniform] };
    });
  }

  /**
   * The indirect-dispatch arguments of `live`, and the bind group of the
   * kernel that writes them right before each use (kept like {@link #bindGroup}'s:
   * a later identical live dispatch rewrites the same arguments from the count
   * it finds then).
   */
  #liveArgs(live: LiveDispatch): { buffer: GPUBuffer; bindGroup: GPUBindGroup } {
    if (live.slots * live.perSlot >= 2 ** 32) {
      throw new GpuError(`live dispatch of ${live.slots} × ${live.perSlot} units overflows u32`);
    }
    const u32 = [live.first, live.slots, live.perSlot, live.perGroup, live.x ?? 0];
    const key = this.#key("live", this.#liveWorkgroups!, [live.counter.buffer], u32, []);
    return this.#cached(key, () => {
      const buffer = this.device.createBuffer({ size: 16, usage: INDIRECT_ARGS });
      const bindGroup = this.#bindGroup(this.#liveWorkgroups!, [live.counter, buffer], u32);
      return { value: { buffer, bindGroup }, owned: [buffer] };
    });
  }

  /** A cache key naming objects by a number of their own. */
  #key(
    kind: string,
    pipeline: GPUComputePipeline,
    buffers: (GPUBuffer | null)[],
    u32: number[],
    f32: number[],
  ): string {
    const id = (o: object) => this.#id(o);
    return `${kind}|${id(pipeline)}|${buffers.map((b) => b ? id(b) : "-")}|${u32}|${f32}`;
  }

  /** A number of an object's own, in order of first use. */
  #id(o: object): number {
    let n = this.#ids.get(o);
    if (n === undefined) this.#ids.set(o, n = this.#nextId++);
    return n;
  }

  #cached<T>(key: string, make: () => { value: T; owned: GPUBuffer[] }): T {
    const hit = this.#bindGroups.get(key);
    if (hit) return hit.value as T;
    if (this.#bindGroups.size >= MAX_BIND_GROUPS) this.#forgetBindGroups();
    const made = make();
    this.#bindGroups.set(key, made);
    return made.value;
  }

  /**
   * Drops the kept bind groups (before buffers they bind are destroyed, or
   * when there are too many); their own buffers go once submitted.
   */
  #forgetBindGroups(): void {
    for (const { owned } of this.#bindGroups.values()) this.#transient.push(...owned);
    this.#bindGroups.clear();
  }

  /** Bind groups created so far: after a warm-up run, a repeated run creates none. */
  get bindGroupCount(): number {
    return this.#bindGroupsCreated;
  }

  /**
   * Starts timing every dispatch on the GPU (timestamp queries where the
   * adapter offers them). Profiling serialises dispatches into separate
   * passes, so end-to-end times are a little slower while it is on.
   */
  startProfile(): void {
    this.flush();
    const set = this.hasTimestamps
      ? this.device.createQuerySet({ type: "timestamp", count: 2 * PROFILE_SLOTS })
      : null;
    this.#profile = { set, records: [], pending: [], reads: [] };
  }

  /** Stops profiling and returns the timing of each dispatch since {@link Gpu.startProfile}. */
  async endProfile(): Promise<KernelTiming[]> {
    const profile = this.#profile;
    if (!profile) throw new GpuError("endProfile() without startProfile()");
    this.#resolveProfile();
    await this.sync();
    this.#profile = null;
    await Promise.all(profile.reads);
    profile.set?.destroy();
    return profile.records;
  }

  #resolveProfile(): void {
    const profile = this.#profile!;
    const batch = profile.pending;
    profile.pending = [];
    profile.records.push(...batch);
    if (!profile.set || batch.length === 0) return;
    const bytes = 16 * batch.length;
    const resolved = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const staging = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.#endPass();
    this.#encoder ??= this.device.createCommandEncoder();
    this.#encoder.resolveQuerySet(profile.set, 0, 2 * batch.length, resolved, 0);
    this.#encoder.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    this.flush();
    const read = staging.mapAsync(GPUMapMode.READ).then(() => {
      const t = new BigUint64Array(staging.getMappedRange());
      batch.forEach((r, k) => r.ms = Number(t[2 * k + 1] - t[2 * k]) / 1e6);
      staging.destroy();
      resolved.destroy();
    });
    profile.reads.push(read);
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
    this.#encoder ??= this.device.createCommandEncoder();
    this.#encoder.copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, bytes);
  }

  /** Sets every element of a tensor to zero. */
  zero(t: Tensor): void {
    this.#endPass();
    this.#encoder ??= this.device.createCommandEncoder();
    this.#encoder.clearBuffer(t.buffer);
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
    this.#encoder ??= this.device.createCommandEncoder();
    this.#encoder.copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
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
    this.trim();
    for (const b of this.#live) b.destroy();
    this.#live.clear();
    this.#bytesLive = 0;
    this.device.destroy();
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

/** Number of workgroups of `size` invocations needed to cover `n` items. */
export function groups(n: number, size: number): number {
  return Math.ceil(n / size);
}

/**
 * Workgroup counts covering `n` items with workgroups of `size` invocations,
 * folded into y when x would pass WebGPU's 65535 limit. The kernel recovers
 * the item index as `gid.x + gid.y * nwg.x * size` (`nwg` = `num_workgroups`).
 */
export function grid(n: number, size: number): [number, number] {
  const total = Math.ceil(n / size);
  const x = Math.min(total, 65535);
  return [x, Math.ceil(total / Math.max(x, 1))];
}

/**
 * The f16 variant of a kernel's source: its `alias elem = f32;` line declares
 * f16 instead, and `enable f16;` comes first, on the first line.
 */
function f16Variant(source: string, file: string): string {
  const declaration = /^alias elem = f32;$/m;
  if (!declaration.test(source)) {
    throw new GpuError(`${file} has no f16 variant: no line "alias elem = f32;"`);
  }
  return `enable f16; ${source.replace(declaration, "alias elem = f16;")}`;
}

/** The file name of a shader URL, its label in pipelines and profiles. */
function shaderName(shader: URL): string {
  return shader.pathname.slice(shader.pathname.lastIndexOf("/") + 1);
}

async function loadShader(url: URL): Promise<string> {
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return await res.text();
  } catch (e) {
    throw new GpuError(`cannot load shader ${url.href}: ${(e as Error).message}`);
  }
}

/**
 * Mesa's Vulkan loader prints "XDG_RUNTIME_DIR is invalid" to stderr when the
 * variable is unset (CI, containers); point it at the temporary folder first.
 */
function quietMesaWarning(): void {
  try {
    if (Deno.build.os !== "linux" || Deno.env.get("XDG_RUNTIME_DIR")) return;
    Deno.env.set("XDG_RUNTIME_DIR", Deno.env.get("TMPDIR") || "/tmp");
  } catch {
    // No --allow-env: the warning is harmless, leave it.
  }
}
