/**
 * The activations fused after a layer (`include/activation.wgsl`, selected by
 * its override constant `ACT`), named once for every kernel that has them.
 * @module
 */

/**
 * An activation: `relu`, `leaky_relu` (slope 0.01, the backbone's) or `elu1`
 * (elu(x) + 1, the linear-attention feature map φ), or `none`.
 */
export type Activation = "none" | "relu" | "leaky_relu" | "elu1";

/** The value of `ACT` for each activation (the `ACT_*` constants of include/activation.wgsl). */
export const ACTIVATION_CODE: Readonly<Record<Activation, number>> = {
  none: 0,
  relu: 1,
  leaky_relu: 2,
  elu1: 3,
};
