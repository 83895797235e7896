/**
 * Bind groups kept for reuse. Creating one (with its uniform buffer) costs
 * more CPU time than recording the dispatch (about 20 µs against 0.3 µs in
 * Deno), and a model run repeats every dispatch of the previous run (the
 * buffer pool hands out the same buffers in the same order), so each bind
 * group is kept, with the small buffers it owns, for the next dispatch of the
 * same kernel on the same buffers with the same uniform values.
 * @module
 */
import type { Kernel } from "./dispatch.ts";
import { GpuError } from "./error.ts";
import type { Tensor } from "./tensor.ts";

const MAX_BIND_GROUPS = 8192; // kept bind groups; past it the cache starts over

/** Bind groups by kernel, bound buffers and uniform words. */
export class BindGroupCache {
  #device: GPUDevice;
  // Called with buffers a forgotten bind group owned: destroy them once submitted.
  #retire: (buffers: GPUBuffer[]) => void;
  #groups = new Map<string, { value: unknown; owned: GPUBuffer[] }>();
  #ids = new WeakMap<object, number>();
  #nextId = 0;
  #created = 0;

  /** A cache on `device`; `retire` receives the buffers of bind groups it drops. */
  constructor(device: GPUDevice, retire: (buffers: GPUBuffer[]) => void) {
    this.#device = device;
    this.#retire = retire;
  }

  /**
   * The bind group of a dispatch: binding 0 a uniform buffer holding
   * `uniforms`, the storage buffers at the bindings their names have in the
   * kernel's source.
   */
  bindGroup(
    kernel: Kernel,
    bindings: Readonly<Record<string, Tensor | GPUBuffer>>,
    uniforms: Uint32Array,
  ): GPUBindGroup {
    const bound: [number, GPUBuffer][] = Object.entries(bindings).map(([name, b]) => {
      const index = kernel.interface.bindings.get(name);
      if (index === undefined) throw new GpuError(`${kernel.label}: no binding named ${name}`);
      return [index, "buffer" in b ? b.buffer : b];
    });
    bound.sort((a, b) => a[0] - b[0]);
    const key = `bind|${this.#id(kernel.pipeline)}|${
      bound.map(([i, b]) => `${i}:${this.#id(b)}`)
    }|${uniforms}`;
    return this.cached(key, () => {
      const uniform = this.#device.createBuffer({
        size: uniforms.byteLength,
        usage: GPUBufferUsage.UNIFORM,
        mappedAtCreation: true,
      });
      new Uint32Array(uniform.getMappedRange()).set(uniforms);
      uniform.unmap();
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform } }];
      for (const [binding, buffer] of bound) entries.push({ binding, resource: { buffer } });
      this.#created++;
      const group = this.#device.createBindGroup({
        layout: kernel.pipeline.getBindGroupLayout(0),
        entries,
      });
      return { value: group, owned: [uniform] };
    });
  }

  /** The value kept under `key`, made (with the buffers it owns) on first use. */
  cached<T>(key: string, make: () => { value: T; owned: GPUBuffer[] }): T {
    const hit = this.#groups.get(key);
    if (hit) return hit.value as T;
    if (this.#groups.size >= MAX_BIND_GROUPS) this.forget();
    const made = make();
    this.#groups.set(key, made);
    return made.value;
  }

  /** A number of an object's own, in order of first use. */
  #id(o: object): number {
    let n = this.#ids.get(o);
    if (n === undefined) this.#ids.set(o, n = this.#nextId++);
    return n;
  }

  /** A number naming `o` in cache keys (in order of first use). */
  idOf(o: object): number {
    return this.#id(o);
  }

  /**
   * Drops every kept bind group (before buffers they bind are destroyed, or
   * when there are too many); their own buffers are retired.
   */
  forget(): void {
    for (const { owned } of this.#groups.values()) this.#retire(owned);
    this.#groups.clear();
  }

  /** Bind groups created so far: after a warm-up run, a repeated run creates none. */
  get created(): number {
    return this.#created;
  }
}
