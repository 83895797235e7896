/**
 * `deno task convert <checkpoint>`: converts a PyTorch LoFTR checkpoint into
 * the safetensors file the engine loads, and prints what it found.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { ConfigOverrides, LoftrConfig, TransformerConfig } from "../model/architecture.ts";
import { convertCheckpoint, loadWeights } from "../io/weights.ts";
import { type Output, runMain, UsageError } from "./common.ts";

const HELP = `Converts a PyTorch LoFTR checkpoint (torch.save zip: .ckpt/.pt) to safetensors.

Usage: deno task convert <checkpoint> [options]

The checkpoint is read without executing anything: only PyTorch tensor and
state-dict types are accepted. The architecture is inferred from the tensor
shapes; the options below set what the shapes cannot tell.

Options:
  -o, --out <file>       output file (default: the input path with .safetensors)
      --dtype f32|f16    tensor storage type (default: f32)
      --heads <n>        coarse attention heads (default: d_model / 32, i.e. 8 for
                         the outdoor model, 1 for the distilled coarse model)
      --fine-heads <n>   fine attention heads (default: 8)
      --ln-eps <x>       LayerNorm epsilon (default: 1e-5 for ResNetFPN_8_2,
                         1e-7 for ResNetFPN_16_4)
      --pos-enc legacy|corrected
                         positional-encoding frequencies (default: legacy, as
                         both published models)
      --threshold <x>    default coarse match confidence threshold (default: 0.2
                         for ResNetFPN_8_2, 0.01 for ResNetFPN_16_4)
      --border <n>       default border removal in coarse cells (default: 2 for
                         ResNetFPN_8_2, 0 for ResNetFPN_16_4)
  -h, --help             show this help
`;

function number(value: string | undefined, option: string, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new UsageError(
      `--${option} needs a ${
        integer ? "non-negative integer" : "non-negative number"
      }, got '${value}'`,
    );
  }
  return n;
}

function positive(value: string | undefined, option: string): number | undefined {
  const n = number(value, option, true);
  if (n === 0) throw new UsageError(`--${option} must be at least 1`);
  return n;
}

function describe(t: TransformerConfig): string {
  return `d_model ${t.dModel}, ${t.nHeads} head${t.nHeads === 1 ? "" : "s"}, ` +
    `${t.layers.length} layers (${
      t.layers.join("/")
    }), LayerNorm eps ${t.layerNormEps.toExponential()}`;
}

function summary(c: LoftrConfig, tensors: number, values: number, bytes: number): string[] {
  return [
    `  variant   ${c.backbone} (initial ${c.initialDim}, blocks ${c.blockDims.join("/")}, ` +
    `strides ${c.coarseStride}/${c.fineStride}), ${c.posEncoding} positional encoding`,
    `  coarse    ${describe(c.coarse)}`,
    `  fine      ${
      c.fine ? `yes: window ${c.fine.window}, ${describe(c.fine)}` : "no (coarse matches only)"
    }`,
    `  matching  threshold ${c.matching.threshold}, border ${c.matching.borderRemoval}, ` +
    `temperature ${c.matching.temperature}`,
    `  tensors   ${tensors} (${values.toLocaleString("en-US")} values), ` +
    `${bytes.toLocaleString("en-US")} bytes`,
  ];
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: "string", short: "o" },
      dtype: { type: "string", default: "f32" },
      heads: { type: "string" },
      "fine-heads": { type: "string" },
      "ln-eps": { type: "string" },
      "pos-enc": { type: "string" },
      threshold: { type: "string" },
      border: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** Runs the converter with command-line `args`, reporting on `out`; throws on failure. */
export async function main(args: string[], out: Output = console): Promise<void> {
  const { values, positionals } = parse(args);
  if (values.help) {
    out.log(HELP.trimEnd());
    return;
  }
  if (positionals.length !== 1) throw new UsageError("expected exactly one checkpoint file");
  const file = positionals[0];
  const dtype = values.dtype;
  if (dtype !== "f32" && dtype !== "f16") {
    throw new UsageError(`--dtype must be f32 or f16, got '${dtype}'`);
  }
  const posEnc = values["pos-enc"];
  if (posEnc !== undefined && posEnc !== "legacy" && posEnc !== "corrected") {
    throw new UsageError(`--pos-enc must be legacy or corrected, got '${posEnc}'`);
  }
  const overrides: ConfigOverrides = {
    coarseHeads: positive(values.heads, "heads"),
    fineHeads: positive(values["fine-heads"], "fine-heads"),
    layerNormEps: number(values["ln-eps"], "ln-eps", false),
    posEncoding: posEnc,
    threshold: number(values.threshold, "threshold", false),
    borderRemoval: number(values.border, "border", true),
  };
  const target = values.out ?? file.replace(/(\.[^./\\]*)?$/, ".safetensors");
  if (target === file) throw new UsageError(`output ${target} would overwrite the input`);

  let input: Uint8Array;
  try {
    input = await Deno.readFile(file);
  } catch (e) {
    throw new Error(
      `${file}: cannot read (${(e as Error).message.replace(/ \(os error.*$/, "")})`,
    );
  }
  const result = convertCheckpoint(input, file, { dtype, overrides });
  try {
    await Deno.writeFile(target, result);
  } catch (e) {
    throw new Error(
      `${target}: cannot write (${(e as Error).message.replace(/ \(os error.*$/, "")})`,
    );
  }
  const { config, tensors } = await loadWeights(result, target);
  const count = [...tensors.values()].reduce((n, t) => n + t.data.length, 0);
  out.log(`wrote ${target} (${dtype}) from ${file}`);
  for (const line of summary(config, tensors.size, count, result.length)) out.log(line);
}

if (import.meta.main) await runMain(main);
