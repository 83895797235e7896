// The activations fused after a layer, chosen by the override constant ACT:
// the codes of `Activation` in src/kernels/activation.ts.
const ACT_NONE = 0u;
const ACT_RELU = 1u;
const ACT_LEAKY_RELU = 2u; // slope 0.01 below 0 (the backbone's)
const ACT_ELU1 = 3u; // elu(x) + 1: the linear-attention feature map φ

override ACT: u32 = ACT_NONE;

fn activate(v: f32) -> f32 {
  if (ACT == ACT_RELU) { return max(v, 0.0); }
  if (ACT == ACT_LEAKY_RELU) { return select(0.01 * v, v, v > 0.0); }
  if (ACT == ACT_ELU1) { return select(exp(v), v + 1.0, v > 0.0); }
  return v;
}
