/**
 * `deno task serve [--port P] [--images DIR]`: the matcher as a web page on
 * 127.0.0.1, built from the same sources (web/build/site.ts).
 * @module
 */
import { parseArgs } from "node:util";
import { buildSite, siteHandler } from "../../web/build/site.ts";
import { fail, type Output, runMain } from "./common.ts";

/** The default port. */
export const DEFAULT_PORT = 8000;

const HELP = `Usage: deno task serve [--port P] [--images DIR]

Serves the LoFTR matcher as a web page on http://127.0.0.1:P/: pick or drop
two photos (or take the example pair) and see the matches, drawn with the
RANSAC inliers of F green and outliers red, the count, the time per stage,
and a CSV of the matches. It runs in the browser on WebGPU (Chrome, Edge or
Chromium; Firefox with dom.webgpu.enabled). The files are those that
\`deno task build-web\` writes.

Options:
      --port P        port on 127.0.0.1 (default ${DEFAULT_PORT}; 0: any free port)
      --images DIR    also serve DIR's files at /images/, so that
                      /?image0=/images/a.jpg&image1=/images/b.jpg opens the
                      page on that pair and matches it
  -h, --help          show this help
`;

/** The `serve` command: builds the site and serves it until the process ends. */
export async function main(args: string[], out: Output = console): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: String(DEFAULT_PORT) },
      images: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out.log(HELP);
    return;
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port!) || port > 65535) {
    fail(`--port expects a port number, got "${values.port}"`);
  }
  const images = values.images;
  if (images !== undefined) {
    const stat = await Deno.stat(images).catch(() => null);
    if (!stat?.isDirectory) throw new Error(`--images ${images}: no such folder`);
  }
  const site = await buildSite();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ port }) => {
      out.log(`serving http://127.0.0.1:${port}/`);
      if (images) {
        out.log(`images:  ${images} at /images/ (open /?image0=/images/A&image1=/images/B)`);
      }
    },
  }, siteHandler(site, images));
  await server.finished;
}

if (import.meta.main) await runMain(main);
