/**
 * Bundles a module of this repository for a web page with the npm package
 * `esbuild`: one ES module, browser platform. A build tool: it runs in Deno
 * and is never part of the page.
 *
 * * **Deno's resolution.** The import graph is Deno's own (`deno info
 *   --json`, which also fills the npm cache): an `npm:` import resolves to
 *   the package version Deno picked (deno.lock), read from Deno's npm cache,
 *   so the page runs the same ml-matrix as Deno. `node:`, `jsr:` and remote
 *   imports fail the build with the importer named.
 * * **No Deno-only code.** The page gets the static import graph only: a
 *   dynamic `import()` of a module of the repository (how the engine loads
 *   its Deno-only parts on first use, e.g. `src/io/decode.ts`) becomes a
 *   module that throws, saying so, and is listed in {@link BundleResult.leftOut}.
 *   A reference to `Deno.` in a bundled module or in the output fails the
 *   build, naming the file and line.
 * * **`new URL("x.wgsl", import.meta.url)` keeps working.** In a bundle every
 *   module's `import.meta.url` would be the bundle's own URL. Each module's
 *   `import.meta.url` is replaced with the URL that module would have if the
 *   repository were served with the bundle at `bundlePath`
 *   (`new URL("../src/gpu/gpu.ts", import.meta.url).href` for a bundle at
 *   `web/worker.js`), so relative URLs resolve as they do in Deno, provided
 *   the files they name are served at their repository paths:
 *   {@link BundleResult.assets} lists them (with the files that WGSL sources
 *   `#include`).
 * @module
 */

import { esbuild } from "./deps.ts";

/** Options of {@link bundleForBrowser}. */
export interface BundleOptions {
  /** The entry module, a path relative to `root`. */
  entry: string;
  /** The repository root, an absolute folder path. */
  root: string;
  /**
   * Where the bundle will be served, relative to the served mirror of `root`
   * (e.g. `"web/worker.js"`).
   */
  bundlePath: string;
  /** Minify (default false). */
  minify?: boolean;
}

/** The bundle and what it needs beside it. */
export interface BundleResult {
  /** The JavaScript of the bundle (an ES module: load it with `type="module"`). */
  code: string;
  /**
   * Files named by `new URL("…", import.meta.url)` in bundled modules, and
   * the files WGSL sources among them `#include`, relative to `root`: what a
   * static site must serve at the same relative place.
   */
  assets: string[];
  /** Files named by such URLs that do not exist (e.g. another bundle of the same site). */
  missing: string[];
  /** Modules reached only by `import()`: not in the bundle (see the module notes). */
  leftOut: string[];
  /** Bundled modules: paths relative to `root`, npm packages as `npm:name@version/file`. */
  modules: string[];
  /** Milliseconds the build took, `deno info` included. */
  ms: number;
}

/** A build that cannot make a page: the message says which module and why. */
export class BundleError extends Error {
  /** Always `"BundleError"`. */
  override name = "BundleError";
}

/** `to` relative to folder `from` (both absolute, `/`-separated), starting with `./` or `../`. */
export function relativePath(from: string, to: string): string {
  const a = from.split("/").filter(Boolean), b = to.split("/").filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const up = a.length - i;
  return (up === 0 ? "./" : "../".repeat(up)) + b.slice(i).join("/");
}

const META_URL = /\bimport\.meta\.url\b/g;
const URL_LITERAL = /new URL\(\s*(["'`])([^"'`$]+)\1\s*,\s*import\.meta\.url\s*,?\s*\)/g;
const DENO_API = /\bDeno\s*(?:\?\.|\.|\[)/;
const INCLUDE = /^#include\s+"([^"]+)"\s*$/gm;

/** An npm package of Deno's module graph. */
interface NpmPackage {
  name: string;
  version: string;
  /** Ids of the packages it depends on. */
  dependencies: string[];
  localPath: string;
}

/** What `deno info --json` tells about an entry's graph. */
interface DenoGraph {
  /** The packages the graph reaches, by id (`name@version`). */
  packages: Map<string, NpmPackage>;
  /** For each local module (absolute path): its `npm:` specifiers and the package id each is. */
  npmImports: Map<string, Map<string, string>>;
}

interface InfoJson {
  modules: {
    local?: string;
    dependencies?: { specifier: string; npmPackage?: string }[];
  }[];
  npmPackages?: Record<string, NpmPackage>;
}

async function denoGraph(root: string, entry: string): Promise<DenoGraph> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const why = new TextDecoder().decode(out.stderr).trim();
    throw new BundleError(`${entry}: deno info failed: ${why.split("\n")[0]}`);
  }
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as InfoJson;
  const npmImports = new Map<string, Map<string, string>>();
  for (const m of info.modules) {
    const npm = (m.dependencies ?? []).filter((d) => d.npmPackage);
    if (m.local && npm.length) {
      npmImports.set(m.local, new Map(npm.map((d) => [d.specifier, d.npmPackage!])));
    }
  }
  // npmPackages holds every package Deno has resolved for the project: keep those reached.
  const all = new Map(Object.entries(info.npmPackages ?? {}));
  const packages = new Map<string, NpmPackage>();
  const visit = (id: string) => {
    const p = all.get(id);
    if (!p || packages.has(id)) return;
    packages.set(id, p);
    p.dependencies.forEach(visit);
  };
  for (const ids of npmImports.values()) [...ids.values()].forEach(visit);
  return { packages, npmImports };
}

/**
 * A `node_modules` folder of symbolic links to Deno's npm cache, one per
 * package of the graph, for esbuild's own package resolution (`exports`,
 * `module`, `main`) and for the bare imports between packages.
 */
async function linkPackages(packages: Map<string, NpmPackage>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "loftr-bundle-" });
  const seen = new Map<string, string>();
  for (const [id, p] of packages) {
    const other = seen.get(p.name);
    if (other) {
      await Deno.remove(dir, { recursive: true });
      throw new BundleError(`npm packages ${other} and ${id} are both in the page's graph`);
    }
    seen.set(p.name, id);
    const link = `${dir}/node_modules/${p.name}`;
    await Deno.mkdir(link.slice(0, link.lastIndexOf("/")), { recursive: true });
    await Deno.symlink(p.localPath, link);
  }
  return `${dir}/node_modules`;
}

/** The package name and subpath of `npm:name@range/sub` (`""` or `/sub`). */
function npmSubpath(specifier: string): string {
  const bare = specifier.slice("npm:".length);
  const nameEnd = bare.startsWith("@") ? bare.indexOf("/") + 1 : 0;
  const slash = bare.indexOf("/", nameEnd);
  return slash < 0 ? "" : bare.slice(slash);
}

/** Lines of `source` (comments removed) that use the Deno API, as `file:line: text`. */
function denoUses(source: string, file: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " "))
    .replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
  return code.split("\n").flatMap((line, i) =>
    DENO_API.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : []
  );
}

/** Adds `file` (relative to `root`) and, for WGSL, the files it `#include`s. */
async function addAsset(root: string, file: string, assets: Set<string>): Promise<void> {
  if (assets.has(file)) return;
  assets.add(file);
  if (!file.endsWith(".wgsl")) return;
  const text = await Deno.readTextFile(root + file);
  for (const m of text.matchAll(INCLUDE)) {
    const target = new URL(m[1], `file://${root}${file}`).pathname;
    if (!target.startsWith(root)) throw new BundleError(`${file}: #include ${m[1]} is outside`);
    await addAsset(root, target.slice(root.length), assets);
  }
}

/** Bundles `entry` for a browser (see the module notes). */
export async function bundleForBrowser(options: BundleOptions): Promise<BundleResult> {
  const t0 = performance.now();
  const root = options.root.replace(/\/?$/, "/");
  const bundleDir = root + options.bundlePath.replace(/[^/]*$/, "");
  const graph = await denoGraph(root, options.entry);
  const nodePath = await linkPackages(graph.packages);
  const assets = new Set<string>(), missing = new Set<string>(), leftOut = new Set<string>();
  const denoLines: string[] = [];
  const plugin: esbuild.Plugin = {
    name: "deno-loftr-page",
    setup(build) {
      build.onResolve({ filter: /^(node|jsr|https?|data):/ }, (args) => ({
        errors: [{
          text: `"${args.path}" imported by ${args.importer.replace(root, "")}: ` +
            "Deno-only or remote modules cannot be part of the page",
        }],
      }));
      build.onResolve({ filter: /^npm:/ }, async (args) => {
        const id = graph.npmImports.get(args.importer)?.get(args.path);
        const pkg = id ? graph.packages.get(id) : undefined;
        if (!pkg) {
          return {
            errors: [{ text: `${args.path}: not in deno info's graph of ${options.entry}` }],
          };
        }
        const r = await build.resolve(pkg.name + npmSubpath(args.path), {
          kind: args.kind,
          resolveDir: root,
        });
        return r.errors.length ? { errors: r.errors } : { path: r.path };
      });
      build.onResolve({ filter: /^\./ }, (args) => {
        if (args.kind !== "dynamic-import" || !args.importer.startsWith(root)) return undefined;
        const path = new URL(args.path, `file://${args.importer}`).pathname;
        leftOut.add(path.slice(root.length));
        return { path: path.slice(root.length), namespace: "left-out" };
      });
      build.onLoad({ filter: /.*/, namespace: "left-out" }, (args) => ({
        contents: `throw new Error(${
          JSON.stringify(
            `${args.path} is not part of this page: the engine loads it on first use, ` +
              "outside a browser only",
          )
        });`,
        loader: "js",
      }));
      build.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
        if (!args.path.startsWith(root)) return undefined; // npm packages: as they are
        const rel = args.path.slice(root.length);
        const source = await Deno.readTextFile(args.path);
        denoLines.push(...denoUses(source, rel));
        for (const m of source.matchAll(URL_LITERAL)) {
          const target = new URL(m[2], `file://${args.path}`).pathname;
          if (!target.startsWith(root)) continue;
          const file = target.slice(root.length);
          try {
            if ((await Deno.stat(target)).isFile) await addAsset(root, file, assets);
          } catch {
            missing.add(file);
          }
        }
        const here = JSON.stringify(relativePath(bundleDir, args.path));
        const contents = source.replace(META_URL, `new URL(${here}, import.meta.url).href`);
        return { contents, loader: args.path.endsWith("ts") ? "ts" : "js" };
      });
    },
  };
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [root + options.entry],
      absWorkingDir: root,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      minify: options.minify ?? false,
      write: false,
      metafile: true,
      logLevel: "silent",
      nodePaths: [nodePath],
      plugins: [plugin],
    });
  } catch (e) {
    const errors = (e as { errors?: esbuild.Message[] }).errors;
    if (!errors) throw e;
    throw new BundleError(
      `${options.entry}: ${
        errors.map((m) => (m.location ? `${m.location.file}:${m.location.line}: ` : "") + m.text)
          .join("; ")
      }`,
    );
  } finally {
    await esbuild.stop();
    await Deno.remove(nodePath.replace(/\/node_modules$/, ""), { recursive: true });
  }
  const code = result.outputFiles[0].text;
  denoLines.push(...denoUses(code, options.bundlePath));
  if (denoLines.length) {
    throw new BundleError(`the page would use the Deno API: ${denoLines.join("; ")}`);
  }
  const npmPrefix = new Map([...graph.packages.values()].map((p) => [p.localPath, p]));
  const inputs = Object.keys(result.metafile.inputs).filter((i) => !i.startsWith("left-out:"));
  const modules = inputs.map((input) => {
    const abs = new URL(input, `file://${root}`).pathname;
    for (const [prefix, p] of npmPrefix) {
      if (abs.startsWith(prefix + "/")) {
        return `npm:${p.name}@${p.version}${abs.slice(prefix.length)}`;
      }
    }
    return abs.startsWith(root) ? abs.slice(root.length) : input;
  });
  return {
    code,
    assets: [...assets].sort(),
    missing: [...missing].sort(),
    leftOut: [...leftOut].sort(),
    modules: modules.sort(),
    ms: performance.now() - t0,
  };
}
