/// <reference lib="dom" />
/**
 * The page's worker (bundled as `web/worker.js`): the engine, off the page's
 * thread. For each {@link MatchRequest} it decodes both images with the
 * browser's decoders (decode.ts), runs the pipeline of `deno task match`
 * with its defaults ({@link pipelineConfig}: the same {@link Matcher},
 * resized by src/io/resize.ts's policy and arithmetic, both orders, the
 * refinement of coarse matches, F on the GPU to tell inliers from outliers as
 * `deno task match --viz` does), draws the matches (src/io/draw.ts) and
 * posts a {@link WorkerMessage}.
 * The matcher (device, weights, compiled pipelines) is kept for the next
 * request with the same model and precision.
 * @module
 */

import { matchesBitmap } from "../src/io/draw.ts";
import type { GrayImage } from "../src/io/image.ts";
import { BUNDLED_WEIGHTS, loadWeights } from "../src/io/load_weights.ts";
import { Matcher } from "../src/pipeline/matcher.ts";
import {
  estimateFromMatches,
  matchPair,
  matchTimings,
  pipelineConfig,
} from "../src/pipeline/two_view.ts";
import { decodeInBrowser } from "./decode.ts";
import type {
  ImageSource,
  LoftrResult,
  MatchRequest,
  ModelSource,
  WorkerMessage,
} from "./protocol.ts";

/** Longest side of either image in the drawing, pixels. */
const DRAWING_SIDE = 960;

const scope = globalThis as unknown as {
  onmessage: (e: MessageEvent<MatchRequest>) => void;
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
};

function post(message: WorkerMessage, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

let current: { key: string; matcher: Matcher } | null = null;

/** A key that is the same for the same model and precision. */
function modelKey(model: ModelSource, precision: string): string {
  if (model.kind === "file") return `file:${model.name}:${model.blob.size}:${precision}`;
  return model.kind === "url" ? `url:${model.url}:${precision}` : `bundled:${precision}`;
}

/** The matcher for `request`'s model and precision: the last one, or a new one. */
async function matcherFor({ model, precision }: MatchRequest): Promise<Matcher> {
  const key = modelKey(model, precision);
  if (current?.key === key) return current.matcher;
  current?.matcher.destroy();
  current = null;
  post({ type: "progress", message: "loading the model" });
  const weights = model.kind === "file"
    ? await loadWeights(new Uint8Array(await model.blob.arrayBuffer()), model.name)
    : await loadWeights(model.kind === "url" ? new URL(model.url, location.href) : BUNDLED_WEIGHTS);
  const matcher = await Matcher.create({ weights, precision });
  current = { key, matcher };
  return matcher;
}

async function decode(source: ImageSource): Promise<GrayImage> {
  if ("blob" in source) return await decodeInBrowser(source.blob, source.name);
  const res = await fetch(source.url);
  if (!res.ok) throw new Error(`${source.name}: HTTP ${res.status} ${res.statusText}`);
  return await decodeInBrowser(await res.blob(), source.name);
}

const pairs = (k: ArrayLike<number>) =>
  Array.from({ length: k.length / 2 }, (_, i): [number, number] => [k[2 * i], k[2 * i + 1]]);

async function run(request: MatchRequest): Promise<void> {
  let t = performance.now();
  const lap = () => {
    const now = performance.now(), ms = now - t;
    t = now;
    return ms;
  };
  post({ type: "progress", message: "decoding the images" });
  const g0 = await decode(request.images[0]);
  const g1 = await decode(request.images[1]);
  const decodeMs = lap();
  const matcher = await matcherFor(request);
  lap();
  post({
    type: "progress",
    message: `matching on ${matcher.adapterName} (the first run also builds the GPU pipelines)`,
  });
  const config = pipelineConfig(matcher);
  const matches = await matchPair(matcher, [g0, g1], config, { profile: true });
  lap();
  const e = await estimateFromMatches(matcher, matches, [g0, g1], config);
  lap();
  const drawing = matchesBitmap(
    g0,
    g1,
    e.keypoints0,
    e.keypoints1,
    e.F
      ? { inliers: e.inliers, maxSide: DRAWING_SIDE }
      : { confidence: e.confidence, maxSide: DRAWING_SIDE },
  );
  // Each stage summed over the two orders, as `deno task match` prints them.
  const { "decode + resize": resizeMs = 0, ...network } = matchTimings(matches);
  const count = e.keypoints0.length / 2;
  const result: LoftrResult = {
    count,
    keypoints0: pairs(e.keypoints0),
    keypoints1: pairs(e.keypoints1),
    confidence: Array.from(e.confidence),
    inliers: Array.from(e.confidence, (_, k) => e.F !== null && e.inliers[k] === 1),
    inlierCount: e.F ? e.inlierCount : 0,
    F: e.F ? Array.from(e.F) : null,
    ransac: {
      threshold: e.ransacThreshold,
      stop: e.stop,
      ...(e.message ? { message: e.message } : {}),
    },
    adapter: matcher.adapterName,
    weights: matcher.weightsSource,
    images: [g0, g1].map((g, k) => ({
      name: g.name,
      width: g.width,
      height: g.height,
      input: [matches[0].inputSizes[k].width, matches[0].inputSizes[k].height],
    })),
    timings: {
      "decode + resize": decodeMs + resizeMs,
      ...network,
      refine: e.ms.refine,
      RANSAC: e.ms.ransac,
      drawing: lap(),
    },
  };
  post({ type: "result", result, drawing }, [drawing.rgba.buffer]);
}

scope.onmessage = (e) => {
  run(e.data).catch((error) => {
    const { name = "Error", message = String(error) } = error as Error;
    post({ type: "error", name, message });
  });
};
