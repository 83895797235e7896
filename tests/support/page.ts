/// <reference lib="dom" />
/**
 * Helpers of the web page's tests: `deno task serve` as a child process, and
 * driving the page (web/main.ts) in a {@link BrowserSession} as a user would:
 * files into its pickers, a click on Match, the outcome read from
 * `window.loftrResult` / `window.loftrError`. The page's matches compared
 * with Deno's.
 * @module
 */

import type { LoftrResult } from "../../web/protocol.ts";
import type { BrowserSession } from "./browser.ts";

/** A running `deno task serve`. */
export interface Server {
  /** `http://127.0.0.1:<port>/`. */
  url: string;
  /** Stops the server and waits for it to exit. */
  close(): Promise<void>;
}

const SERVE = new URL("../../src/cli/serve.ts", import.meta.url).pathname;

/**
 * Starts `src/cli/serve.ts` with the permissions of `deno task serve` on a
 * free port (with `--images images` when given) and waits for its address.
 */
export async function startServe(images?: string): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-run",
      "--allow-net=127.0.0.1",
      SERVE,
      "--port",
      "0",
      ...(images ? ["--images", images] : []),
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const close = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await child.status;
  };
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  try {
    while (true) {
      const { value, done } = await lines.read();
      if (done) break;
      seen += value;
      const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(seen);
      if (m) {
        lines.releaseLock();
        child.stdout.cancel().catch(() => {});
        child.stderr.cancel().catch(() => {});
        return { url: m[1], close };
      }
    }
    const stderr = await new Response(child.stderr).text();
    throw new Error(`serve exited without an address: ${seen}${stderr}`);
  } catch (e) {
    await close();
    throw e;
  }
}

/** What the page ended with: a result, or an error with the text it shows. */
export interface Outcome {
  /** `window.loftrResult`, when the match finished. */
  result?: LoftrResult;
  /** `window.loftrError`, when it failed. */
  error?: string;
  /** The text of the page's error box, and whether it is visible. */
  shown: { text: string; visible: boolean };
  /** `document.title`. */
  title: string;
}

/** Waits until the page has finished (title `matches: N` or `error`) and reads the outcome. */
export async function outcome(browser: BrowserSession, timeoutMs = 240_000): Promise<Outcome> {
  await browser.waitFor(
    () => document.title === "error" || document.title.startsWith("matches:"),
    timeoutMs,
  );
  return await browser.evaluate(() => {
    const g = globalThis as unknown as { loftrResult?: LoftrResult; loftrError?: string };
    const box = document.getElementById("error")!;
    return {
      result: g.loftrResult,
      error: g.loftrError,
      shown: { text: box.textContent ?? "", visible: getComputedStyle(box).display !== "none" },
      title: document.title,
    };
  });
}

/** A file for the page: bytes (base64) or a URL the page fetches. */
export type PageFile = { name: string; base64: string } | { name: string; url: string };

/** Bytes as base64. */
export function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/**
 * Puts `file` into the page's file input `id` (`image0`, `image1`,
 * `model-file`) as a user's pick does, and fires its `change` event.
 */
export async function pickFile(browser: BrowserSession, id: string, file: PageFile): Promise<void> {
  await browser.evaluate(
    async (id, file) => {
      const bytes = "url" in file
        ? await (await fetch(file.url)).blob()
        : new Blob([Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0))]);
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], file.name));
      const input = document.getElementById(id) as HTMLInputElement;
      input.files = transfer.files;
      input.dispatchEvent(new Event("change"));
    },
    id,
    file,
  );
}

/** Chooses the model and precision in the page's selects (`"file"`: the model file picked). */
export async function choose(
  browser: BrowserSession,
  model: "bundled" | "file",
  precision: "f32" | "f16" = "f32",
): Promise<void> {
  await browser.evaluate(
    (model, precision) => {
      (document.getElementById("model") as HTMLSelectElement).value = model;
      (document.getElementById("precision") as HTMLSelectElement).value = precision;
    },
    model,
    precision,
  );
}

/** Clicks a button of the page (`match`, `example`) and waits for the outcome. */
export async function click(browser: BrowserSession, id: string): Promise<Outcome> {
  await browser.evaluate((id) => (document.getElementById(id) as HTMLButtonElement).click(), id);
  return await outcome(browser);
}

/** How the page's matches compare with Deno's. */
export interface MatchComparison {
  /** Matches in the page and in Deno. */
  counts: [number, number];
  /** |page − Deno| / Deno. */
  countDifference: number;
  /** Matches whose image-0 keypoint both found (within 0.5 px; the nearest in image 1 of those). */
  common: number;
  /** Largest distance between their image-1 keypoints, pixels. */
  maxDistance: number;
  /** Common matches whose image-1 keypoints are more than 0.5 px apart. */
  apart: number;
}

/** Deno's matches of a pair: keypoints `[x, y, …]` in original pixels. */
export interface DenoMatches {
  keypoints0: ArrayLike<number>;
  keypoints1: ArrayLike<number>;
}

/** Compares the page's matches with Deno's (see {@link MatchComparison}). */
export function compareMatches(page: LoftrResult, deno: DenoMatches): MatchComparison {
  const byCell = new Map<string, number[]>();
  const cell = (x: number, y: number) => `${Math.round(x)},${Math.round(y)}`;
  const count = deno.keypoints0.length / 2;
  for (let k = 0; k < count; k++) {
    const key = cell(deno.keypoints0[2 * k], deno.keypoints0[2 * k + 1]);
    byCell.set(key, [...byCell.get(key) ?? [], k]);
  }
  let common = 0, maxDistance = 0, apart = 0;
  page.keypoints0.forEach(([x, y], i) => {
    const candidates = [-1, 0, 1].flatMap((dx) =>
      [-1, 0, 1].flatMap((dy) => byCell.get(cell(x + dx, y + dy)) ?? [])
    );
    const [u, v] = page.keypoints1[i];
    const near = candidates.filter((k) =>
      Math.hypot(deno.keypoints0[2 * k] - x, deno.keypoints0[2 * k + 1] - y) <= 0.5
    );
    if (!near.length) return;
    common++;
    // Both orders of a pair can put two matches near one image-0 point: the one nearest in image 1.
    const d = Math.min(
      ...near.map((k) => Math.hypot(deno.keypoints1[2 * k] - u, deno.keypoints1[2 * k + 1] - v)),
    );
    maxDistance = Math.max(maxDistance, d);
    if (d > 0.5) apart++;
  });
  return {
    counts: [page.count, count],
    countDifference: Math.abs(page.count - count) / count,
    common,
    maxDistance,
    apart,
  };
}
