/// <reference lib="dom" />
/**
 * The page's worker (bundled as `web/worker.js`): the engine, off the page's
 * thread. For each {@link MatchRequest} it decodes both images with the
 * browser's decoders (decode.ts), matches them with the same {@link Matcher}
 * as Deno (resized by src/io/resize.ts's policy and arithmetic), estimates F
 * on the GPU to tell inliers from outliers as `deno task match --viz` does,
 * draws the matches (src/io/draw.ts) and posts a {@link WorkerMessage}.
 * The matcher (device, weights, compiled pipelines) is kept for the next
 * request with the same model and precision.
 * @module
 */

import { estimateFundamental } from "../src/geometry/ransac_gpu.ts";
import { matchesBitmap } from "../src/io/draw.ts";
import type { GrayImage } from "../src/io/image.ts";
import { BUNDLED_WEIGHTS, loadWeights } from "../src/io/load_weights.ts";
import { Matcher } from "../src/pipeline/matcher.ts";
import { coarseCells, ransacThreshold } from "../src/pipeline/two_view.ts";
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

const pairs = (k: Float32Array) =>
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
  const m = await matcher.match(g0, g1, { profile: true });
  const { coarseStride, fine } = matcher.model.config;
  const threshold = ransacThreshold(
    "auto",
    "none",
    fine !== null,
    coarseCells([g0, g1], m, coarseStride),
  );
  lap();
  const f = await estimateFundamental(matcher.gpu, m.keypoints0, m.keypoints1, { threshold });
  const ransacMs = lap();
  const drawing = matchesBitmap(
    g0,
    g1,
    m.keypoints0,
    m.keypoints1,
    f.F
      ? { inliers: f.inliers, maxSide: DRAWING_SIDE }
      : { confidence: m.confidence, maxSide: DRAWING_SIDE },
  );
  const { "decode + resize": resizeMs = 0, ...stages } = m.timings;
  const result: LoftrResult = {
    count: m.count,
    keypoints0: pairs(m.keypoints0),
    keypoints1: pairs(m.keypoints1),
    confidence: Array.from(m.confidence),
    inliers: Array.from(m.confidence, (_, k) => f.F !== null && f.inliers[k] === 1),
    inlierCount: f.F ? f.inlierCount : 0,
    F: f.F ? Array.from(f.F) : null,
    ransac: { threshold, stop: f.stop, ...(f.message ? { message: f.message } : {}) },
    adapter: matcher.adapterName,
    weights: matcher.weightsSource,
    images: [g0, g1].map((g, k) => ({
      name: g.name,
      width: g.width,
      height: g.height,
      input: [m.inputSizes[k].width, m.inputSizes[k].height],
    })),
    timings: {
      "decode + resize": decodeMs + resizeMs,
      ...stages,
      RANSAC: ransacMs,
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
