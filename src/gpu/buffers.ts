/**
 * The buffer pool behind tensors: released buffers are kept for reuse (best
 * fit), pooled buffers are freed oldest first before an allocation would pass
 * a memory budget, and the peak of what is held is tracked.
 * @module
 */

const STORAGE = 0x80 | 0x8 | 0x4; // STORAGE | COPY_DST | COPY_SRC

/** Memory figures of a {@link BufferPool}, in bytes. */
export interface MemoryStats {
  /** Bytes of storage buffers held by live tensors. */
  inUse: number;
  /** Bytes held by live tensors and by the reuse pool. */
  allocated: number;
  /** Highest value `allocated` has reached. */
  peak: number;
}

/** Storage buffers of one device: live ones, and released ones kept for reuse. */
export class BufferPool {
  #device: GPUDevice;
  #budget: number;
  // Called before pooled buffers are destroyed: commands and bind groups may still use them.
  #beforeFree: () => void;
  #pool: GPUBuffer[] = []; // released buffers, for reuse, oldest first
  #live = new Set<GPUBuffer>();
  #created = new WeakMap<GPUBuffer, number>(); // creation order: the best fit's tie-break
  #nextId = 0;
  #bytesLive = 0;
  #bytesPooled = 0;
  #peak = 0;

  /**
   * A pool on `device` that frees pooled buffers before passing `budget`
   * bytes, calling `beforeFree` first.
   */
  constructor(device: GPUDevice, budget: number, beforeFree: () => void) {
    this.#device = device;
    this.#budget = budget;
    this.#beforeFree = beforeFree;
  }

  /** A live storage buffer of `bytes` bytes, from the pool when one fits. */
  take(bytes: number): GPUBuffer {
    let buffer = this.#takeFromPool(bytes);
    if (!buffer) {
      this.#evictFor(bytes);
      buffer = this.#device.createBuffer({ size: bytes, usage: STORAGE });
      this.#created.set(buffer, this.#nextId++);
    }
    this.#live.add(buffer);
    this.#bytesLive += buffer.size;
    this.#peak = Math.max(this.#peak, this.#bytesLive + this.#bytesPooled);
    return buffer;
  }

  /** Returns a live buffer to the pool; a buffer that is not live is ignored. */
  release(buffer: GPUBuffer): void {
    if (!this.#live.delete(buffer)) return;
    this.#bytesLive -= buffer.size;
    this.#bytesPooled += buffer.size;
    this.#pool.push(buffer);
  }

  /**
   * The smallest pooled buffer of at least `bytes` and at most twice that
   * (best fit), the first created among equals: which buffer a run gets
   * depends on the pool's contents only, not on its order, so a repeated run
   * gets the same buffers and can reuse its bind groups.
   */
  #takeFromPool(bytes: number): GPUBuffer | undefined {
    let best = -1;
    const id = (b: GPUBuffer) => this.#created.get(b)!;
    this.#pool.forEach((b, k) => {
      if (b.size < bytes || b.size > 2 * bytes) return;
      const other = this.#pool[best];
      if (best < 0 || b.size < other.size || (b.size === other.size && id(b) < id(other))) {
        best = k;
      }
    });
    if (best < 0) return undefined;
    const [buffer] = this.#pool.splice(best, 1);
    this.#bytesPooled -= buffer.size;
    return buffer;
  }

  /** Frees pooled buffers, oldest first, until `bytes` more fit in the memory budget. */
  #evictFor(bytes: number): void {
    if (this.#bytesLive + this.#bytesPooled + bytes <= this.#budget || !this.#pool.length) return;
    this.#beforeFree();
    while (this.#pool.length && this.#bytesLive + this.#bytesPooled + bytes > this.#budget) {
      const b = this.#pool.shift()!;
      this.#bytesPooled -= b.size;
      b.destroy();
    }
  }

  /** Frees every pooled buffer (live ones stay). */
  trim(): void {
    this.#beforeFree();
    for (const b of this.#pool) b.destroy();
    this.#pool = [];
    this.#bytesPooled = 0;
  }

  /** Frees every buffer, live ones too. */
  destroy(): void {
    this.trim();
    for (const b of this.#live) b.destroy();
    this.#live.clear();
    this.#bytesLive = 0;
  }

  /** Current and peak memory. */
  memory(): MemoryStats {
    return {
      inUse: this.#bytesLive,
      allocated: this.#bytesLive + this.#bytesPooled,
      peak: this.#peak,
    };
  }

  /** Resets the peak to the current allocation. */
  resetPeak(): void {
    this.#peak = this.#bytesLive + this.#bytesPooled;
  }
}
