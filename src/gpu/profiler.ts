/**
 * The per-dispatch profiler: each dispatch in a pass of its own, its start and
 * end stamped into a timestamp query set where the device has them.
 * @module
 */

const PROFILE_SLOTS = 2048; // dispatches timed per query-set resolve

/** One dispatch timed by the profiler (`Gpu.startProfile`). */
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

/** Timestamps of the dispatches recorded while it is on. */
export class Profiler {
  #device: GPUDevice;
  #set: GPUQuerySet | null;
  #records: KernelTiming[] = [];
  #pending: KernelTiming[] = [];
  #reads: Promise<void>[] = [];

  /** A profiler on `device`, with timestamp queries when it offers them. */
  constructor(device: GPUDevice) {
    this.#device = device;
    this.#set = device.features.has("timestamp-query")
      ? device.createQuerySet({ type: "timestamp", count: 2 * PROFILE_SLOTS })
      : null;
  }

  /**
   * The descriptor of the compute pass of the next dispatch, which it records
   * as `timing`. `encoder()` gives the command encoder to resolve a full
   * query set into, and `submit()` submits it.
   */
  pass(
    timing: KernelTiming,
    encoder: () => GPUCommandEncoder,
    submit: () => void,
  ): GPUComputePassDescriptor {
    if (this.#pending.length === PROFILE_SLOTS) this.resolve(encoder, submit);
    const k = this.#pending.length;
    this.#pending.push(timing);
    return this.#set
      ? {
        timestampWrites: {
          querySet: this.#set,
          beginningOfPassWriteIndex: 2 * k,
          endOfPassWriteIndex: 2 * k + 1,
        },
      }
      : {};
  }

  /** Resolves the pending timestamps (read asynchronously once submitted). */
  resolve(encoder: () => GPUCommandEncoder, submit: () => void): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#records.push(...batch);
    if (!this.#set || batch.length === 0) return;
    const bytes = 16 * batch.length;
    const resolved = this.#device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const staging = this.#device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const e = encoder();
    e.resolveQuerySet(this.#set, 0, 2 * batch.length, resolved, 0);
    e.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    submit();
    this.#reads.push(
      staging.mapAsync(GPUMapMode.READ).then(() => {
        const t = new BigUint64Array(staging.getMappedRange());
        batch.forEach((r, k) => r.ms = Number(t[2 * k + 1] - t[2 * k]) / 1e6);
        staging.destroy();
        resolved.destroy();
      }),
    );
  }

  /** Waits for the timestamps read so far and returns every record; the profiler is done. */
  async finish(): Promise<KernelTiming[]> {
    await Promise.all(this.#reads);
    this.#set?.destroy();
    return this.#records;
  }
}
