/**
 * `deno task weights <model>`: downloads, verifies and converts a known
 * model's official checkpoint into the user's cache; `--list` shows the
 * known models and where their weights are.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  defaultCacheDir,
  downloadModel,
  type DownloadProgress,
  getModel,
  listModels,
} from "../io/model_zoo.ts";
import { fail, runMain } from "./common.ts";

const HELP = `Installs a known LoFTR model into the cache, for \`deno task match --model <name>\`.

Usage: deno task weights <model> [--from URL|FILE] [--cache-dir DIR] [--force]
       deno task weights --list [--cache-dir DIR]

The checkpoint is downloaded from its published locations in order, verified
(git blob checksum where one is recorded; every tensor name and shape) and
converted to safetensors in the cache directory: $DENO_LOFTR_CACHE, else
$XDG_CACHE_HOME/deno-loftr, else ~/.cache/deno-loftr (Linux),
~/Library/Caches/deno-loftr (macOS) or %LOCALAPPDATA%\\deno-loftr (Windows).

Models: coarse (bundled, nothing to download), outdoor (official LoFTR outdoor).

Options:
      --from URL|FILE    take the checkpoint from here instead (a file you
                         downloaded yourself, or another URL)
      --cache-dir DIR    cache directory (default: as above)
      --force            install again even if already installed
      --list             show the models, whether installed, and their paths
  -h, --help             show this help`;

const MB = 1e6;

let lastDrawn = 0;

/** Shows download progress on one rewritten stderr line, at most ten times a second. */
function progressLine(p: DownloadProgress): void {
  const now = performance.now();
  if (p.phase === "download" && now - lastDrawn < 100) return;
  lastDrawn = now;
  const done = (p.received / MB).toFixed(1);
  const text = p.phase === "failed"
    ? `${p.url}: ${p.reason}\n`
    : p.phase === "verify"
    ? `${p.url}: ${done} MB received, verifying and converting…`
    : `${p.url}: ${done}${p.total ? ` / ${(p.total / MB).toFixed(1)}` : ""} MB`;
  Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K${text}`));
}

async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      from: { type: "string" },
      "cache-dir": { type: "string" },
      force: { type: "boolean" },
      list: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const cacheDir = values["cache-dir"] ?? defaultCacheDir();
  if (values.list) {
    if (positionals.length) fail("--list takes no model name");
    console.log(`cache directory: ${cacheDir}`);
    for (const m of await listModels({ cacheDir })) {
      const state = m.kind === "bundled" ? "bundled" : m.installed ? "installed" : "not installed";
      console.log(`${m.name.padEnd(8)} ${state.padEnd(13)} ${m.path}`);
      console.log(`${"".padEnd(8)} ${m.description}`);
    }
    return;
  }
  if (positionals.length !== 1) {
    fail(`expected one model name (or --list), got ${positionals.length}`);
  }
  const name = positionals[0];
  const model = getModel(name);
  if (model.kind === "bundled") {
    console.log(`model '${name}' is bundled with the package: nothing to download`);
    return;
  }
  const from = values.from;
  const locations = from === undefined
    ? undefined
    : [/^(https?|file):/i.test(from) ? from : pathToFileURL(resolve(from)).href];

  const tty = Deno.stderr.isTerminal();
  const abort = new AbortController();
  const interrupt = () => abort.abort();
  Deno.addSignalListener("SIGINT", interrupt);
  let result;
  try {
    result = await downloadModel(name, {
      cacheDir,
      locations,
      force: values.force,
      signal: abort.signal,
      onProgress: tty ? progressLine : undefined,
    });
  } finally {
    Deno.removeSignalListener("SIGINT", interrupt);
    if (tty) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  }
  if (result.from === null) {
    console.log(`model '${name}' is already installed: ${result.path} (--force to reinstall)`);
    return;
  }
  const check = result.gitBlobSha1
    ? `git blob ${result.gitBlobSha1} and tensor shapes verified`
    : "tensor names and shapes verified; no checksum recorded for this location";
  console.log(`installed model '${name}' from ${result.from} (${check}): ${result.path}`);
}

if (import.meta.main) await runMain(main);
