/// <reference lib="dom" />
/**
 * The page (bundled as `web/main.js`, loaded by index.html): picks two
 * images (file pickers, drag and drop, the example pair, or
 * `?image0=URL&image1=URL` for same-origin URLs, matched at once) and a
 * model (the bundled one, a `.safetensors` file, or `?weights=URL`), hands
 * them to the worker (worker.ts) and shows what comes back: the adapter,
 * the drawing (RANSAC inliers of F green, outliers red), the counts, the
 * time per stage and a CSV of the matches.
 *
 * For automation: a finished match sets `window.loftrResult` (a
 * {@link LoftrResult}) and the title to `matches: N`; an error sets
 * `window.loftrError` (the message) and the title to `error`, and shows the
 * message.
 * @module
 */

import type {
  ImageSource,
  LoftrResult,
  MatchRequest,
  ModelSource,
  WorkerMessage,
} from "./protocol.ts";

const EXAMPLE: [ImageSource, ImageSource] = [
  {
    name: "fountain_0001.jpg",
    url: new URL("../tests/fixtures/images/fountain_0001.jpg", import.meta.url).href,
  },
  {
    name: "fountain_0000.jpg",
    url: new URL("../tests/fixtures/images/fountain_0000.jpg", import.meta.url).href,
  },
];

const automation = globalThis as unknown as { loftrResult?: LoftrResult; loftrError?: string };

function element<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

const ui = {
  files: [element<HTMLInputElement>("image0"), element<HTMLInputElement>("image1")],
  names: [element("name0"), element("name1")],
  drops: [element("drop0"), element("drop1")],
  match: element<HTMLButtonElement>("match"),
  example: element<HTMLButtonElement>("example"),
  model: element<HTMLSelectElement>("model"),
  modelFile: element<HTMLInputElement>("model-file"),
  precision: element<HTMLSelectElement>("precision"),
  status: element("status"),
  error: element("error"),
  results: element("results"),
  adapter: element("adapter"),
  count: element("count"),
  inliers: element("inliers"),
  csv: element<HTMLAnchorElement>("csv"),
  legendF: element("legend-f"),
  legendConfidence: element("legend-confidence"),
  canvas: element<HTMLCanvasElement>("canvas"),
  timings: element<HTMLTableElement>("timings"),
};

const chosen: (ImageSource | null)[] = [null, null];
let busy = false;

function showError(message: string): void {
  automation.loftrError = message;
  document.title = "error";
  ui.error.textContent = message;
  ui.error.style.display = "block";
  ui.status.textContent = "";
}

function updateButton(): void {
  ui.match.disabled = busy || !chosen[0] || !chosen[1];
}

function choose(k: number, source: ImageSource): void {
  chosen[k] = source;
  ui.names[k].textContent = source.name;
  updateButton();
}

/**
 * Why WebGPU cannot run here, in one sentence saying what to enable, or
 * null when an adapter is available.
 */
async function webgpuProblem(): Promise<string | null> {
  if (!("gpu" in navigator)) {
    return isSecureContext
      ? "This browser does not offer WebGPU (navigator.gpu is missing): use a recent Chrome, " +
        "Edge or Chromium, or turn it on (Firefox: set dom.webgpu.enabled in about:config)."
      : "WebGPU needs a secure context: open this page at http://127.0.0.1 or " +
        "http://localhost, or over HTTPS.";
  }
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  if (adapter) return null;
  return "WebGPU is on but offers no adapter (this GPU, or a machine without one, is " +
    "blocklisted): start Chromium with --enable-unsafe-webgpu (and " +
    "--enable-unsafe-swiftshader where there is no GPU) or enable " +
    "chrome://flags/#enable-unsafe-webgpu; in Firefox set gfx.webgpu.ignore-blocklist in " +
    "about:config.";
}

function modelSource(): ModelSource | null {
  const url = new URLSearchParams(location.search).get("weights");
  if (url) return { kind: "url", url: sameOrigin(url, "weights") };
  if (ui.model.value === "bundled") return { kind: "bundled" };
  const file = ui.modelFile.files?.[0];
  return file ? { kind: "file", name: file.name, blob: file } : null;
}

/** `url` resolved against the page; an error unless it is on the page's own origin. */
function sameOrigin(url: string, what: string): string {
  const resolved = new URL(url, location.href);
  if (resolved.origin !== location.origin) {
    throw new Error(
      `${what}: ${url} is not on this page's origin (${location.origin}); ` +
        "serve the images with `deno task serve --images DIR` and use /images/NAME",
    );
  }
  return resolved.href;
}

let worker: Worker | null = null;

function engine(): Worker {
  if (worker) return worker;
  worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  worker.onmessage = (e: MessageEvent<WorkerMessage>) => onWorkerMessage(e.data);
  worker.onerror = (e) => {
    e.preventDefault();
    worker = null;
    finish();
    showError(`the page's worker failed to start: ${e.message || "module workers unsupported?"}`);
  };
  return worker;
}

function finish(): void {
  busy = false;
  ui.example.disabled = false;
  updateButton();
}

async function match(images: [ImageSource, ImageSource]): Promise<void> {
  if (busy) return;
  delete automation.loftrResult;
  delete automation.loftrError;
  ui.error.style.display = "none";
  document.title = "matching…";
  const problem = await webgpuProblem();
  if (problem) return showError(problem);
  const model = modelSource();
  if (!model) return showError("choose a .safetensors file for the model, or the bundled model");
  busy = true;
  ui.example.disabled = true;
  updateButton();
  ui.status.textContent = "starting";
  const precision = ui.precision.value as MatchRequest["precision"];
  engine().postMessage({ images, model, precision } satisfies MatchRequest);
}

function onWorkerMessage(m: WorkerMessage): void {
  if (m.type === "progress") {
    ui.status.textContent = `${m.message}…`;
    return;
  }
  finish();
  if (m.type === "error") return showError(m.message);
  show(m.result, m.drawing);
}

function csv(r: LoftrResult): string {
  const rows = ["x0,y0,x1,y1,confidence,inlier"];
  for (let k = 0; k < r.count; k++) {
    rows.push([...r.keypoints0[k], ...r.keypoints1[k], r.confidence[k], +r.inliers[k]].join(","));
  }
  return rows.join("\n") + "\n";
}

function show(r: LoftrResult, drawing: { width: number; height: number; rgba: Uint8Array }) {
  ui.results.hidden = false;
  ui.status.textContent = "";
  ui.adapter.textContent = r.adapter;
  ui.count.textContent = String(r.count);
  ui.inliers.textContent = r.F
    ? `${r.inlierCount} (RANSAC F, ${+r.ransac.threshold.toFixed(2)} px)`
    : `no F (${r.ransac.message ?? r.ransac.stop})`;
  ui.legendF.hidden = !r.F;
  ui.legendConfidence.hidden = !!r.F;
  const { width, height, rgba } = drawing;
  ui.canvas.width = width;
  ui.canvas.height = height;
  const pixels = new Uint8ClampedArray(
    rgba.buffer as ArrayBuffer,
    rgba.byteOffset,
    rgba.byteLength,
  );
  ui.canvas.getContext("2d")!.putImageData(new ImageData(pixels, width, height), 0, 0);
  const total = Object.values(r.timings).reduce((a, b) => a + b, 0);
  ui.timings.replaceChildren(
    ...[...Object.entries(r.timings), ["total", total] as const].map(([stage, ms]) => {
      const row = document.createElement("tr");
      row.innerHTML = "<td></td><td></td>";
      row.cells[0].textContent = stage;
      row.cells[1].textContent = `${ms.toFixed(1)} ms`;
      return row;
    }),
  );
  if (ui.csv.href) URL.revokeObjectURL(ui.csv.href);
  ui.csv.href = URL.createObjectURL(new Blob([csv(r)], { type: "text/csv" }));
  const stem = (name: string) => name.replace(/^.*\//, "").replace(/\.[^.]*$/, "");
  ui.csv.download = `${stem(r.images[0].name)}_${stem(r.images[1].name)}_matches.csv`;
  automation.loftrResult = r;
  document.title = `matches: ${r.count}`;
}

function filesDropped(k: number, files: FileList): void {
  const images = [...files];
  if (images.length >= 2) {
    choose(0, { name: images[0].name, blob: images[0] });
    choose(1, { name: images[1].name, blob: images[1] });
  } else if (images.length === 1) {
    choose(k, { name: images[0].name, blob: images[0] });
  }
}

ui.files.forEach((input, k) => {
  input.addEventListener("change", () => input.files && filesDropped(k, input.files));
});
ui.drops.forEach((zone, k) => {
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer?.files.length) filesDropped(k, e.dataTransfer.files);
  });
});
ui.model.addEventListener("change", () => {
  if (ui.model.value === "file") ui.modelFile.click();
});
ui.modelFile.addEventListener("change", () => {
  const file = ui.modelFile.files?.[0];
  if (file) ui.model.options[1].textContent = file.name;
});
ui.match.addEventListener("click", () => match([chosen[0]!, chosen[1]!]));
ui.example.addEventListener("click", () => {
  EXAMPLE.forEach((source, k) => choose(k, source));
  match(EXAMPLE);
});
globalThis.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  finish();
  showError(String((e.reason as Error)?.message ?? e.reason));
});

async function start(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const urls = [params.get("image0"), params.get("image1")];
  if (urls[0] || urls[1]) {
    if (!urls[0] || !urls[1]) throw new Error("give both ?image0=URL and &image1=URL");
    const images = urls.map((url, k) => {
      const href = sameOrigin(url!, `image${k}`);
      return { name: decodeURIComponent(new URL(href).pathname.replace(/^.*\//, "")), url: href };
    }) as [ImageSource, ImageSource];
    images.forEach((source, k) => choose(k, source));
    return await match(images);
  }
  const problem = await webgpuProblem();
  if (problem) showError(problem);
}

start().catch((e) => showError((e as Error).message));
