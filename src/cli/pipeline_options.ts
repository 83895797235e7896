/**
 * The command-line options of the matching + geometry pipeline, shared by
 * the commands that run it (`match`, `eval`, `submit`): parsed into a
 * {@link PipelineConfig} and a {@link Matcher} with the model they name.
 * @module
 */
import { fail, parsePrecision, parseResizePolicy } from "./common.ts";
import { resolveModel } from "../io/model_zoo.ts";
import { Matcher } from "../pipeline/matcher.ts";
import type { PipelineConfig } from "../pipeline/two_view.ts";

/** The options of the matching + RANSAC pipeline, shared by `eval` and `submit`. */
export const PIPELINE_OPTIONS = {
  model: { type: "string" },
  weights: { type: "string" },
  resize: { type: "string", default: "640" },
  threshold: { type: "string" },
  border: { type: "string" },
  refine: { type: "string" },
  "ransac-threshold": { type: "string", default: "auto" },
  "ransac-confidence": { type: "string", default: "0.99999" },
  "ransac-iterations": { type: "string", default: "10000" },
  seed: { type: "string", default: "0" },
  precision: { type: "string", default: "f32" },
} as const;

/** Help text of {@link PIPELINE_OPTIONS}. */
export const PIPELINE_HELP = `Matching and F estimation:
      --model NAME          coarse (bundled, the default) or outdoor (after
                            \`deno task weights outdoor\`)
      --weights FILE        .safetensors weights from \`deno task convert\`
      --resize POLICY       N (long side, default 640), WxH or original
      --threshold X         match confidence threshold (default: the model's)
      --border N            border removal in coarse cells (default: the model's)
      --refine MODE         ncc: sub-pixel refinement of coarse matches by
                            normalised cross-correlation of 9×9 image patches
                            (default for coarse-only models); none (default,
                            and the only choice, for models with a fine stage)
      --ransac-threshold T  inlier threshold in original pixels, or auto
                            (default): 1 px after refinement or a fine stage,
                            else a third of a coarse cell (10 px at 640 for a
                            1200-px photo)
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
  if (values.refine !== undefined && !["ncc", "none"].includes(values.refine)) {
    fail(`--refine expects ncc or none, got "${values.refine}"`);
  }
  const precision = parsePrecision(values.precision!);
  if (values.model && values.weights) fail("--model and --weights are exclusive");
  const weights = values.model ? await resolveModel(values.model) : values.weights;
  const matcher = await Matcher.create({ weights, precision });
  const fine = matcher.model.config.fine !== null;
  if (fine && values.refine === "ncc") {
    matcher.destroy();
    fail("--refine ncc is for coarse-only models; this model has a fine stage");
  }
  const refine = (values.refine ?? (fine ? "none" : "ncc")) as PipelineConfig["refine"];
  return {
    matcher,
    config: {
      weights: matcher.weightsSource,
      precision,
      resize,
      threshold,
      border,
      refine,
      ransac,
    },
  };
}
