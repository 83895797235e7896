/**
 * Linear attention over token sequences (`linear_attention.wgsl`).
 * @module
 */
import { type Gpu, grid, type LiveSlots, type Tensor } from "../gpu/mod.ts";

const SHADER = new URL("./linear_attention.wgsl", import.meta.url);

/**
 * Tokens per partial sum of `kv_sum` with the "gpu" kernel tuning: the coarse
 * stage's 4 800 tokens at 640×480 become 38 chunks, 38 times the invocations.
 */
const KV_CHUNK = 128;

/**
 * Multi-head linear attention over `batch` independent sequences packed as
 * rows: `Q` `[batch·L, C]` and `K` `[batch·S, C]` are the feature maps φ(q),
 * φ(k) (φ = elu + 1), `v` `[batch·S, C]` the values. Returns the attention
 * message `[batch·L, C]` before the merge projection. With `live` (its
 * `slots` = `batch`), only the sequences of live slots are computed.
 */
export async function linearAttention(
  gpu: Gpu,
  Q: Tensor,
  K: Tensor,
  v: Tensor,
  heads: number,
  batch = 1,
  live?: LiveSlots,
): Promise<Tensor> {
  const C = Q.shape[1];
  const L = Q.shape[0] / batch;
  const S = K.shape[0] / batch;
  const D = C / heads;
  if (live && live.slots !== batch) throw new Error("linearAttention: live.slots must equal batch");
  const kv = gpu.tensor([batch, heads, D, D + 1]);
  // On a GPU, long sequences are summed in chunks, then the chunks added (kv_total).
  const chunks = gpu.tuning === "gpu" && !live ? Math.ceil(S / KV_CHUNK) : 1;
  const partial = chunks > 1 ? gpu.tensor([chunks, ...kv.shape]) : kv;
  gpu.dispatch({
    kernel: await gpu.kernel(SHADER, "kv_sum"),
    bindings: { a: K, b: v, out: partial },
    uniforms: { rows: S, C, D, S, B: batch, chunk: chunks > 1 ? KV_CHUNK : S },
    workgroups: grid(partial.size, 64),
    live: live && { ...live, perSlot: kv.size / batch, perGroup: 64 },
    flops: 2 * batch * S * C * (D + 1),
  });
  if (chunks > 1) {
    gpu.dispatch({
      kernel: await gpu.kernel(SHADER, "kv_total"),
      bindings: { a: partial, out: kv },
      uniforms: { rows: S, C, D, S, B: batch, chunk: chunks },
      workgroups: grid(kv.size, 64),
      flops: partial.size,
    });
    gpu.release(partial);
  }
  const msg = gpu.tensor([batch * L, C]);
  gpu.dispatch({
    kernel: await gpu.kernel(SHADER, "attend"),
    bindings: { a: Q, b: kv, out: msg },
    uniforms: { rows: L, C, D, S, B: batch, chunk: 1 },
    workgroups: grid(msg.size, 64),
    live: live && { ...live, perSlot: msg.size / batch, perGroup: 64 },
    flops: 4 * batch * L * C * D,
  });
  gpu.release(kv);
  return msg;
}
