/// <reference lib="dom" />
// The web page end to end: `deno task serve` (src/cli/serve.ts) started as a
// child process, the page opened in headless Chromium (Dawn + SwiftShader)
// and driven as a user would; its matches against Deno's pipeline (wgpu +
// lavapipe; `deno task match`'s defaults) on the same images; bad input; a browser without WebGPU;
// Firefox ESR once. Screenshots go to out/web-test/.
import assert from "node:assert/strict";
import { loadImage } from "../../src/io/decode.ts";
import { Matcher } from "../../src/pipeline/matcher.ts";
import {
  estimateFromMatches,
  matchPair,
  type PairEstimate,
  pipelineConfig,
} from "../../src/pipeline/two_view.ts";
import type { LoftrResult } from "../../web/protocol.ts";
import { BrowserSession, browserTest } from "../support/browser.ts";
import {
  base64,
  choose,
  click,
  compareMatches,
  type MatchComparison,
  outcome,
  pickFile,
  startServe,
} from "../support/page.ts";
import { fixture } from "../support/util.ts";

const SHOTS = new URL("../../out/web-test/", import.meta.url).pathname;
const IMAGES = fixture("images");

/** Deno's matches of two image files, decoded by Deno, by the pipeline of `deno task match`. */
async function denoMatches(file0: string, file1: string): Promise<PairEstimate> {
  const matcher = await Matcher.create();
  try {
    const images = [await loadImage(file0), await loadImage(file1)] as const;
    const config = pipelineConfig(matcher);
    return await estimateFromMatches(
      matcher,
      await matchPair(matcher, images, config),
      images,
      config,
    );
  } finally {
    matcher.destroy();
  }
}

function log(what: string, c: MatchComparison, r: LoftrResult): void {
  const total = Object.values(r.timings).reduce((a, b) => a + b, 0);
  console.log(
    `  ${what}: page ${c.counts[0]} matches (${r.inlierCount} inliers) vs Deno ${c.counts[1]} ` +
      `(${(100 * c.countDifference).toFixed(2)}%); ${c.common} common, image-1 keypoints ` +
      `≤ ${c.maxDistance.toFixed(3)} px apart (${c.apart} over 0.5 px); page ${
        (total / 1000).toFixed(1)
      } s on ${r.adapter}`,
  );
}

/** The checks of issue 14: count within 1%, common keypoints within 0.5 px. */
function assertAsDeno(c: MatchComparison): void {
  assert.ok(c.countDifference <= 0.01, `count ${c.counts[0]} vs Deno's ${c.counts[1]}`);
  assert.ok(c.common >= 0.99 * Math.min(...c.counts), `only ${c.common} common matches`);
  assert.equal(c.apart, 0, `${c.apart} common matches more than 0.5 px apart`);
}

/** The fields of `window.loftrResult`, plain arrays of consistent lengths. */
function assertResultShape(r: LoftrResult, title: string): void {
  assert.equal(title, `matches: ${r.count}`);
  for (const k of ["keypoints0", "keypoints1", "confidence", "inliers"] as const) {
    assert.ok(Array.isArray(r[k]), `${k} is a plain array`);
    assert.equal(r[k].length, r.count, `${k} length`);
  }
  assert.ok(r.keypoints0.every((p) => Array.isArray(p) && p.length === 2));
  assert.ok(r.inliers.every((v) => typeof v === "boolean"));
  assert.equal(r.inliers.filter(Boolean).length, r.inlierCount);
  assert.equal(r.F?.length, 9);
  assert.match(r.adapter, /\S/);
  assert.deepEqual(Object.keys(r.timings), [
    "decode + resize",
    "backbone",
    "coarse transformer",
    "coarse matching",
    "read back",
    "refine",
    "RANSAC",
    "drawing",
  ]);
  assert.ok(Object.values(r.timings).every((ms) => typeof ms === "number" && ms >= 0));
}

browserTest(
  "page in Chromium: a pair given by URL and the example pair match as Deno does; result, CSV, screenshot",
  async () => {
    await Deno.mkdir(SHOTS, { recursive: true });
    const server = await startServe(IMAGES);
    const browser = await BrowserSession.launch();
    try {
      // The gray PNGs decode to the same levels in both: the same decoded images.
      await browser.open(
        `${server.url}?image0=/images/fountain_0001.png&image1=/images/fountain_0000.png`,
      );
      const png = await outcome(browser);
      assert.equal(png.error, undefined);
      const r = png.result!;
      assertResultShape(r, png.title);
      assert.deepEqual(r.images.map((i) => [i.name, i.width, i.height, ...i.input]), [
        ["fountain_0001.png", 640, 480, 800, 608],
        ["fountain_0000.png", 640, 480, 800, 608],
      ]);
      const c = compareMatches(
        r,
        await denoMatches(`${IMAGES}/fountain_0001.png`, `${IMAGES}/fountain_0000.png`),
      );
      log("PNG pair by URL", c, r);
      assertAsDeno(c);

      // The example pair (JPEGs: the browser's libjpeg-turbo against Deno's decoder).
      const jpeg = await click(browser, "example");
      const e = jpeg.result!;
      assertResultShape(e, jpeg.title);
      assert.deepEqual(e.images.map((i) => [i.width, i.height, ...i.input]), [
        [1200, 800, 800, 528],
        [1200, 800, 800, 528],
      ]);
      const ce = compareMatches(
        e,
        await denoMatches(`${IMAGES}/fountain_0001.jpg`, `${IMAGES}/fountain_0000.jpg`),
      );
      log("example pair (JPEG)", ce, e);
      assertAsDeno(ce);
      assert.ok(e.inlierCount > 0.8 * e.count, `${e.inlierCount} inliers of ${e.count}`);

      // The CSV behind the download link.
      const csv = await browser.evaluate(async () => {
        const a = document.getElementById("csv") as HTMLAnchorElement;
        return { name: a.download, text: await (await fetch(a.href)).text() };
      });
      assert.equal(csv.name, "fountain_0001_fountain_0000_matches.csv");
      const rows = csv.text.trim().split("\n");
      assert.equal(rows[0], "x0,y0,x1,y1,confidence,inlier");
      assert.equal(rows.length, e.count + 1);
      assert.deepEqual(rows[1].split(",").map(Number), [
        ...e.keypoints0[0],
        ...e.keypoints1[0],
        e.confidence[0],
        +e.inliers[0],
      ]);
      await browser.screenshot(`${SHOTS}example_pair.png`, true);
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
);

/** A safetensors file holding one F32 tensor `name` of shape [2, 2]. */
function safetensors(name: string): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({ [name]: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] } }).padEnd(64),
  );
  const out = new Uint8Array(8 + header.length + 16);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  return out;
}

browserTest(
  "page in Chromium: drag and drop; bad input gets a clear message (not an image, too small, not LoFTR, f16, other origin); a 50-megapixel photo is matched without blocking the page",
  async () => {
    const server = await startServe(IMAGES);
    const browser = await BrowserSession.launch();
    try {
      await browser.open(server.url);
      // Two files dropped on either field fill both.
      const dropped = await browser.evaluate(() => {
        const transfer = new DataTransfer();
        for (const name of ["a.jpg", "b.jpg"]) transfer.items.add(new File(["x"], name));
        const drop = new DragEvent("drop", { dataTransfer: transfer, cancelable: true });
        document.getElementById("drop1")!.dispatchEvent(drop);
        return [0, 1].map((k) => document.getElementById(`name${k}`)!.textContent);
      });
      assert.deepEqual(dropped, ["a.jpg", "b.jpg"]);
      const good = { name: "fountain_0000.png", url: "/images/fountain_0000.png" };
      await pickFile(browser, "image1", good);
      const expectError = async (message: RegExp) => {
        const o = await click(browser, "match");
        assert.equal(o.result, undefined);
        assert.match(o.error ?? "", message);
        assert.equal(o.shown.text, o.error);
        assert.ok(o.shown.visible, "the message is shown");
        console.log(`  ${o.error}`);
      };
      const text = new TextEncoder().encode("these are notes, not a photo\n");
      await pickFile(browser, "image0", { name: "notes.jpg", base64: base64(text) });
      await expectError(/^notes\.jpg: not an image \(expected PNG or JPEG\)$/);

      // An 8×8 PNG, drawn and encoded by the page.
      await browser.evaluate(async () => {
        const canvas = new OffscreenCanvas(8, 8);
        canvas.getContext("2d")!.fillRect(0, 0, 4, 4);
        const transfer = new DataTransfer();
        transfer.items.add(new File([await canvas.convertToBlob()], "tiny.png"));
        const input = document.getElementById("image0") as HTMLInputElement;
        input.files = transfer.files;
        input.dispatchEvent(new Event("change"));
      });
      await expectError(/^tiny\.png: 8x8 image is smaller than the coarse stride 16$/);

      await pickFile(browser, "image0", {
        name: "fountain_0001.png",
        url: "/images/fountain_0001.png",
      });
      const other = base64(safetensors("classifier.weight"));
      await pickFile(browser, "model-file", { name: "classifier.safetensors", base64: other });
      await choose(browser, "file");
      await expectError(/^classifier\.safetensors: not a LoFTR state dict \(/);
      const junk = base64(new TextEncoder().encode("not safetensors at all"));
      await pickFile(browser, "model-file", { name: "junk.safetensors", base64: junk });
      await expectError(/^junk\.safetensors: /);

      await choose(browser, "bundled", "f16");
      await expectError(
        /^precision "f16" needs the WebGPU feature "shader-f16", which .+ does not offer; use precision "f32"$/,
      );
      await choose(browser, "bundled", "f32");

      await browser.open(`${server.url}?image0=https://example.com/a.jpg&image1=/images/b.png`);
      const cross = await outcome(browser);
      assert.match(
        cross.error ?? "",
        /^image0: https:\/\/example\.com\/a\.jpg is not on this page's origin/,
      );
      assert.ok(cross.shown.visible);

      // 50 megapixels: the example photo enlarged to 8660×5773 and encoded as JPEG by the page.
      await browser.evaluate(async () => {
        const example = await (await fetch("/tests/fixtures/images/fountain_0001.jpg")).blob();
        const bitmap = await createImageBitmap(example);
        const canvas = new OffscreenCanvas(8660, 5773);
        canvas.getContext("2d")!.drawImage(bitmap, 0, 0, 8660, 5773);
        const jpeg = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.9 });
        const transfer = new DataTransfer();
        transfer.items.add(new File([jpeg], "large.jpg"));
        const input = document.getElementById("image0") as HTMLInputElement;
        input.files = transfer.files;
        input.dispatchEvent(new Event("change"));
        // The page's responsiveness while it works: gaps between timer ticks.
        const g = globalThis as unknown as { gaps: number[] };
        g.gaps = [];
        let last = performance.now();
        setInterval(() => {
          const now = performance.now();
          g.gaps.push(now - last);
          last = now;
        }, 50);
      });
      await pickFile(browser, "image1", {
        name: "fountain_0000.jpg",
        url: "/tests/fixtures/images/fountain_0000.jpg",
      });
      const large = await click(browser, "match");
      const gaps = await browser.evaluate(() => (globalThis as unknown as { gaps: number[] }).gaps);
      const r = large.result!;
      assert.equal(large.error, undefined);
      assert.deepEqual(r.images[0], {
        name: "large.jpg",
        width: 8660,
        height: 5773,
        input: [800, 528],
      });
      const longest = Math.max(...gaps);
      console.log(
        `  large.jpg 8660×5773: ${r.count} matches, ${r.inlierCount} inliers; decode + resize ` +
          `${r.timings["decode + resize"].toFixed(0)} ms; longest pause of the page ${
            longest.toFixed(0)
          } ms over ${gaps.length} ticks`,
      );
      assert.ok(r.inlierCount > 400, `${r.inlierCount} inliers`);
      assert.ok(longest < 500, `the page stopped for ${longest.toFixed(0)} ms`);
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
);

browserTest(
  "page in Chromium without WebGPU: a sentence saying so and what to enable",
  async () => {
    await Deno.mkdir(SHOTS, { recursive: true });
    const server = await startServe();
    const browser = await BrowserSession.launch({ webgpu: false });
    try {
      await browser.open(server.url);
      const first = await outcome(browser, 30_000);
      assert.match(first.error ?? "", /^WebGPU .*: .*--enable-unsafe-webgpu/);
      assert.ok(first.shown.visible);
      const again = await click(browser, "example");
      assert.equal(again.error, first.error);
      console.log(`  ${first.error}`);
      await browser.screenshot(`${SHOTS}no_webgpu.png`);
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
);

browserTest(
  "page in Firefox ESR (WebGPU by its prefs): a pair given by URL matches as Deno does",
  async () => {
    await Deno.mkdir(SHOTS, { recursive: true });
    const server = await startServe(IMAGES);
    const browser = await BrowserSession.launch({ browser: "firefox" });
    try {
      await browser.open(
        `${server.url}?image0=/images/fountain_0001.png&image1=/images/fountain_0000.png`,
      );
      const o = await outcome(browser);
      assert.equal(o.error, undefined);
      assertResultShape(o.result!, o.title);
      const c = compareMatches(
        o.result!,
        await denoMatches(`${IMAGES}/fountain_0001.png`, `${IMAGES}/fountain_0000.png`),
      );
      log(`Firefox ${await browser.version()}`, c, o.result!);
      assertAsDeno(c);
      await browser.screenshot(`${SHOTS}firefox.png`, true);
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  },
  { browser: "firefox" },
);
