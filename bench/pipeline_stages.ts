/**
 * Time per stage of the two-view pipeline on one pair, warm: matching (each
 * stage of the network, summed over the orders), refinement and RANSAC, the
 * median of `--reps` runs after one run that compiles the GPU pipelines.
 * Takes the pipeline options of `match` (`--resize`, `--orders`, `--refine`, …).
 *
 * `deno run -A bench/pipeline_stages.ts [A B] [--reps 5] [pipeline options]`;
 * a markdown table on stdout (the bundled pair when no images are given).
 * @module
 */
import { parseArgs } from "node:util";
import { decodeImage, readImageFile } from "../src/io/decode.ts";
import { createPipeline, describePipeline, PIPELINE_OPTIONS } from "../src/cli/pipeline_options.ts";
import { estimateFromMatches, matchPair, matchTimings } from "../src/pipeline/two_view.ts";
import { median } from "./profile.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { ...PIPELINE_OPTIONS, reps: { type: "string", default: "5" } },
});
const fixtures = new URL("../tests/fixtures/images/", import.meta.url).pathname;
const paths = positionals.length === 2
  ? positionals
  : [`${fixtures}fountain_0001.jpg`, `${fixtures}fountain_0000.jpg`];
const images = await Promise.all(
  paths.map(async (p) => decodeImage(await readImageFile(p), p)),
) as [Awaited<ReturnType<typeof decodeImage>>, Awaited<ReturnType<typeof decodeImage>>];
const { matcher, config } = await createPipeline(values);
const runs: Record<string, number>[] = [];
for (let rep = 0; rep <= Number(values.reps); rep++) {
  const matches = await matchPair(matcher, images, config, { profile: true });
  const e = await estimateFromMatches(matcher, matches, images, config);
  const stages = matchTimings(matches);
  stages.refine = e.ms.refine;
  stages.RANSAC = e.ms.ransac;
  stages.total = Object.values(stages).reduce((a, b) => a + b, 0);
  if (rep > 0) runs.push(stages); // run 0 compiles the pipelines
}
console.log(`${paths.join(" ")}; ${describePipeline(config)}; ${matcher.adapterName}`);
matcher.destroy();
console.log(`median of ${runs.length} warm runs\n\n| stage | ms |\n|---|---:|`);
for (const stage of Object.keys(runs[0])) {
  console.log(`| ${stage} | ${median(runs.map((r) => r[stage])).toFixed(0)} |`);
}
