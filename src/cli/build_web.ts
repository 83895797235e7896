/**
 * `deno task build-web [--out DIR]`: the web page as a static folder that
 * can be hosted anywhere (web/build/site.ts); `deno task serve` serves the
 * same files.
 * @module
 */
import { parseArgs } from "node:util";
import { buildSite, writeSite } from "../../web/build/site.ts";
import { type Output, runMain } from "./common.ts";

/** Where the site goes by default. */
export const DEFAULT_OUT = "out/web";

const HELP = `Usage: deno task build-web [--out DIR]

Writes the LoFTR matcher's web page as static files: index.html, the page's
bundles (web/main.js, web/worker.js), the WGSL shaders, the bundled weights
and the example pair. Host the folder anywhere (WebGPU needs a secure
context: HTTPS, or http://127.0.0.1 / localhost).

Options:
  -o, --out DIR       the folder (default ${DEFAULT_OUT}); an earlier build
                      there is replaced, any other non-empty folder refused
      --minify        minify the bundles
  -h, --help          show this help
`;

/** The `build-web` command. */
export async function main(args: string[], out: Output = console): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: "string", short: "o", default: DEFAULT_OUT },
      minify: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    out.log(HELP);
    return;
  }
  const site = await buildSite({ minify: values.minify });
  await writeSite(site, values.out!);
  const bytes = [...site.files.values()].reduce((n, f) => n + f.length, 0);
  out.log(`wrote ${values.out}: ${site.files.size} files, ${(bytes / 2 ** 20).toFixed(1)} MiB`);
  for (const b of site.bundles) {
    out.log(`  ${b.bundlePath}: ${b.modules.length} modules in ${b.ms.toFixed(0)} ms`);
  }
}

if (import.meta.main) await runMain(main);
