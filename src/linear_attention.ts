/**
 * Linear attention over token sequences (`shaders/linear_attention.wgsl`).
 * @module
 */
import { type Gpu, grid, type LiveSlots, type Tensor } from "./gpu.ts";

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
  gpu.dispatch({
    pipeline: await gpu.kernel("linear_attention.wgsl", "kv_sum"),
    buffers: [K, v, kv],
    u32: [S, C, D, S, batch],
    workgroups: grid(kv.size, 64),
    live: live && { ...live, perSlot: kv.size / batch, perGroup: 64 },
    flops: 2 * batch * S * C * (D + 1),
  });
  const msg = gpu.tensor([batch * L, C]);
  gpu.dispatch({
    pipeline: await gpu.kernel("linear_attention.wgsl", "attend"),
    buffers: [Q, kv, msg],
    u32: [L, C, D, S, batch],
    workgroups: grid(msg.size, 64),
    live: live && { ...live, perSlot: msg.size / batch, perGroup: 64 },
    flops: 4 * batch * L * C * D,
  });
  gpu.release(kv);
  return msg;
}
