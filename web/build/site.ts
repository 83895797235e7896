/**
 * The page as a static site: `index.html`, the page's two bundles
 * (`web/main.js`, `web/worker.js`, see bundle.ts) and every file they fetch
 * at its repository path (the WGSL sources, the bundled weights, the example
 * pair). `deno task build-web` writes it to a folder that can be hosted
 * anywhere; `deno task serve` serves the same files from memory.
 * @module
 */

import { BundleError, bundleForBrowser } from "./bundle.ts";

/** The repository root, an absolute folder path ending in `/`. */
export const REPO_ROOT: string = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** A bundle of a site: its entry module and where the page loads it from. */
export interface SiteBundle {
  /** Entry module, relative to the repository root. */
  entry: string;
  /** Path of the bundle in the site. */
  bundlePath: string;
}

/** The page's bundles. */
export const PAGE_BUNDLES: readonly SiteBundle[] = [
  { entry: "web/main.ts", bundlePath: "web/main.js" },
  { entry: "web/worker.ts", bundlePath: "web/worker.js" },
];

/** A built site. */
export interface Site {
  /** Each file by its path in the site (no leading `/`). */
  files: Map<string, Uint8Array>;
  /** Per bundle: milliseconds, modules bundled, modules left out (Deno-only, see bundle.ts). */
  bundles: { bundlePath: string; ms: number; modules: string[]; leftOut: string[] }[];
}

/** Options of {@link buildSite}. */
export interface SiteOptions {
  /** The bundles (default {@link PAGE_BUNDLES}). */
  bundles?: readonly SiteBundle[];
  /** The HTML page served as `index.html`, relative to the root (default `web/index.html`). */
  html?: string;
  /** Minify the bundles (default false). */
  minify?: boolean;
}

/** Bundles the page and gathers the files it fetches (see the module notes). */
export async function buildSite(options: SiteOptions = {}): Promise<Site> {
  const bundles = options.bundles ?? PAGE_BUNDLES;
  const files = new Map<string, Uint8Array>();
  files.set("index.html", await Deno.readFile(REPO_ROOT + (options.html ?? "web/index.html")));
  const built: Site["bundles"] = [];
  const encoder = new TextEncoder();
  for (const b of bundles) {
    const r = await bundleForBrowser({ ...b, root: REPO_ROOT, minify: options.minify });
    const unknown = r.missing.filter((m) => !bundles.some((o) => o.bundlePath === m));
    if (unknown.length) throw new BundleError(`${b.entry} names missing files: ${unknown}`);
    files.set(b.bundlePath, encoder.encode(r.code));
    for (const asset of r.assets) files.set(asset, await Deno.readFile(REPO_ROOT + asset));
    built.push({ bundlePath: b.bundlePath, ms: r.ms, modules: r.modules, leftOut: r.leftOut });
  }
  return { files, bundles: built };
}

/**
 * Writes `site` into the folder `dir`, replacing an earlier build there; a
 * folder that holds anything else is refused, so that no unrelated files are
 * deleted.
 */
export async function writeSite(site: Site, dir: string): Promise<void> {
  const entries = await Array.fromAsync(Deno.readDir(dir)).catch((e) => {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  });
  if (entries.length) {
    const ours = await Deno.stat(`${dir}/index.html`).then(() => Deno.stat(`${dir}/web/main.js`))
      .then(() => true, () => false);
    if (!ours) {
      throw new Error(`${dir}: not empty and not a build of the page; choose another folder`);
    }
    await Deno.remove(dir, { recursive: true });
  }
  for (const [path, bytes] of site.files) {
    const file = `${dir}/${path}`;
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(file, bytes);
  }
}

/** Content types by file extension. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  wgsl: "text/plain; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  json: "application/json",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
};

function contentType(path: string): string {
  return CONTENT_TYPES[path.slice(path.lastIndexOf(".") + 1).toLowerCase()] ??
    "application/octet-stream";
}

/**
 * The request handler of a site: GET or HEAD of its files (`/` is
 * `index.html`), and, with `images`, that folder's files at `/images/`
 * (no listings, nothing outside it). Nothing is cached by the browser, so
 * that a rebuilt site is seen at once.
 */
export function siteHandler(site: Site, images?: string): (req: Request) => Promise<Response> {
  const headers = (path: string) => ({
    "content-type": contentType(path),
    "cache-control": "no-store",
  });
  return async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405 });
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url).pathname).slice(1) || "index.html";
    } catch {
      return new Response("bad path\n", { status: 400 });
    }
    const body = (bytes: Uint8Array | null) =>
      new Response(req.method === "HEAD" ? null : bytes as Uint8Array<ArrayBuffer>, {
        headers: headers(path),
      });
    const file = site.files.get(path);
    if (file) return body(file);
    if (images && path.startsWith("images/") && !path.split("/").includes("..")) {
      try {
        const local = `${images.replace(/\/$/, "")}/${path.slice("images/".length)}`;
        if ((await Deno.stat(local)).isFile) return body(await Deno.readFile(local));
      } catch {
        // Not there: 404 below.
      }
    }
    return new Response("not found\n", { status: 404 });
  };
}
