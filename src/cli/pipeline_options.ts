/**
 * The command-line options of the matching + geometry pipeline, shared by
 * the commands that run it (`match`, `eval`, `submit`): parsed into a
 * {@link PipelineConfig} and a {@link Matcher} with the model they name.
 * @module
 */
import { fail, parsePrecision, parseResizePolicy } from "./common.ts";
import type { ResizePolicy } from "../io/resize.ts";
import { resolveModel } from "../io/model_zoo.ts";
import { Matcher } from "../pipeline/matcher.ts";
import {
  type MatchOrders,
  PIPELINE_DEFAULTS,
  type PipelineConfig,
  pipelineConfig,
  type Refinement,
  REFINEMENTS,
} from "../pipeline/two_view.ts";

const RANSAC = PIPELINE_DEFAULTS.ransac;

/** The options of the matching + RANSAC pipeline, shared by `eval` and `submit`. */
export const PIPELINE_OPTIONS = {
  model: { type: "string" },
  weights: { type: "string" },
  resize: { type: "string", default: String(PIPELINE_DEFAULTS.resize.longSide) },
  threshold: { type: "string" },
  border: { type: "string" },
  refine: { type: "string" },
  orders: { type: "string", default: PIPELINE_DEFAULTS.orders },
  "ransac-threshold": { type: "string", default: RANSAC.threshold },
  "ransac-confidence": { type: "string", default: String(RANSAC.confidence) },
  "ransac-iterations": { type: "string", default: String(RANSAC.maxIterations) },
  seed: { type: "string", default: String(RANSAC.seed) },
  precision: { type: "string", default: "f32" },
} as const;

/** Help text of {@link PIPELINE_OPTIONS}. */
export const PIPELINE_HELP = `Matching and F estimation:
      --model NAME          coarse (bundled, the default) or outdoor (after
                            \`deno task weights outdoor\`)
      --weights FILE        .safetensors weights from \`deno task convert\`
      --resize POLICY       N (long side, default 800), WxH or original; the
                            network's time grows with the pixels (800: 1.8×
                            the time of 640)
      --threshold X         match confidence threshold (default: the model's)
      --border N            border removal in coarse cells (default: the model's)
      --refine MODE         sub-pixel refinement of coarse matches (CPU, no
                            weights), for coarse-only models:
                            ncc-affine (default): NCC search over a pyramid
                              of 9×9 patches, then an affine Lucas–Kanade
                              alignment of 17×17 patches, kept when they
                              correlate ≥ 0.8 (~0.4 s a pair on 2 cores)
                            ncc: the NCC search with a quadratic peak (faster,
                              less accurate)
                            none: the coarse cells as they are (the default,
                              and the only choice, with a fine stage)
      --orders one|both     both (default): match image 0 against image 1 and
                            image 1 against image 0 and take the union (LoFTR
                            is asymmetric; the backbone runs once per image,
                            the rest twice: ~1.8× the time); one: 0 against 1
      --ransac-threshold T  inlier threshold in original pixels, or auto
                            (default): 0.35 px after ncc-affine, 1 px after
                            ncc or with a fine stage, else a third of a
                            coarse cell (8 px at 800 for a 1200-px photo)
      --ransac-confidence X stopping confidence (default 0.99999)
      --ransac-iterations N most hypotheses (default 10000)
      --seed N              RANSAC sample seed (default 0)
      --precision P         f32 (default) or f16: the backbone's feature maps
                            and filters stored as f16 (needs the adapter's
                            shader-f16; about 99.8% of the f32 matches)`;

/** Parsed values of {@link PIPELINE_OPTIONS}. */
type PipelineValues = { [K in keyof typeof PIPELINE_OPTIONS]?: string };

/** A number option: finite, ≥ `min` (and an integer when asked), or a usage error. */
export function numberOption(
  value: string,
  name: string,
  { min = 0, integer = false }: { min?: number; integer?: boolean } = {},
): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    fail(`--${name} expects ${integer ? "an integer" : "a number"} >= ${min}, got "${value}"`);
  }
  return n;
}

/**
 * Refuses (naming `--resize`) an input size whose image alone exceeds the
 * adapter's largest buffer: for a long side N, an N×N input, the largest an
 * image of any aspect can give. Smaller inputs fit: the network's larger
 * tensors are computed in tiles.
 */
function checkInputFits(resize: ResizePolicy, text: string, matcher: Matcher): void {
  if (resize === "original") return;
  const [w, h] = "longSide" in resize
    ? [resize.longSide, resize.longSide]
    : [resize.width, resize.height];
  const limit = Math.min(matcher.gpu.device.limits.maxBufferSize, matcher.gpu.maxBindingBytes);
  if (w * h * 4 > limit) {
    const side = Math.floor(Math.sqrt(limit / 4));
    matcher.destroy();
    fail(
      `--resize ${text}: an input of up to ${w}×${h} pixels needs ${
        (w * h * 4 / 2 ** 20).toFixed(0)
      } MiB, beyond this adapter's ${(limit / 2 ** 20).toFixed(0)} MiB buffer limit ` +
        `(at most ${side} on the long side here)`,
    );
  }
}

/** Loads the model and resolves the pipeline options into a {@link PipelineConfig}. */
export async function createPipeline(
  values: PipelineValues,
): Promise<{ matcher: Matcher; config: PipelineConfig }> {
  const resize = parseResizePolicy(values.resize!);
  const opt = (name: keyof PipelineValues) =>
    values[name] === undefined ? null : numberOption(values[name]!, name);
  const threshold = opt("threshold"), border = opt("border");
  const t = values["ransac-threshold"]!;
  const ransac = {
    threshold: t === "auto" ? "auto" as const : numberOption(t, "ransac-threshold"),
    confidence: numberOption(values["ransac-confidence"]!, "ransac-confidence"),
    maxIterations: numberOption(values["ransac-iterations"]!, "ransac-iterations", {
      min: 1,
      integer: true,
    }),
    seed: numberOption(values.seed!, "seed", { integer: true }),
  };
  if (!(ransac.confidence < 1)) fail(`--ransac-confidence must be below 1`);
  if (values.refine !== undefined && !REFINEMENTS.includes(values.refine as Refinement)) {
    fail(`--refine expects ncc-affine, ncc or none, got "${values.refine}"`);
  }
  const orders = values.orders! as MatchOrders;
  if (orders !== "one" && orders !== "both") {
    fail(`--orders expects one or both, got "${values.orders}"`);
  }
  const precision = parsePrecision(values.precision!);
  if (values.model && values.weights) fail("--model and --weights are exclusive");
  const weights = values.model ? await resolveModel(values.model) : values.weights;
  const matcher = await Matcher.create({ weights, precision });
  checkInputFits(resize, values.resize!, matcher);
  const fine = matcher.model.config.fine !== null;
  if (fine && values.refine !== undefined && values.refine !== "none") {
    matcher.destroy();
    fail(
      `--refine ${values.refine} is for coarse-only models; this model has a fine stage (use none)`,
    );
  }
  const refine = values.refine as Refinement | undefined;
  return {
    matcher,
    config: pipelineConfig(matcher, {
      resize,
      threshold,
      border,
      orders,
      ransac,
      ...(refine ? { refine } : {}),
    }),
  };
}

/** The pipeline's settings in a few words, for a command's report: "800 px, both orders, refine ncc-affine". */
export function describePipeline(config: PipelineConfig): string {
  const r = config.resize;
  const size = r === "original"
    ? "original size"
    : "longSide" in r
    ? `${r.longSide} px`
    : `${r.width}×${r.height}`;
  return `${size}, ${
    config.orders === "both" ? "both orders" : "one order"
  }, refine ${config.refine}`;
}
