// The page's build without a browser: what the bundles hold and leave out,
// the static site (`deno task build-web`), the server's handler and the two
// commands' command lines.
import assert from "node:assert/strict";
import { main as buildWeb } from "../../src/cli/build_web.ts";
import { run } from "../../src/cli/common.ts";
import { main as serve } from "../../src/cli/serve.ts";
import { BundleError, bundleForBrowser, relativePath } from "../../web/build/bundle.ts";
import { buildSite, REPO_ROOT, siteHandler, writeSite } from "../../web/build/site.ts";
import { rejection } from "../support/util.ts";

function capture() {
  const lines: string[] = [], errors: string[] = [];
  return { lines, errors, log: (l: string) => lines.push(l), error: (l: string) => errors.push(l) };
}

/** The WGSL files of src/ a matcher and RANSAC use, with the includes. */
async function shaders(): Promise<string[]> {
  const out: string[] = [];
  for (const dir of ["src/gpu", "src/kernels", "src/kernels/include"]) {
    for await (const e of Deno.readDir(REPO_ROOT + dir)) {
      if (e.name.endsWith(".wgsl")) out.push(`${dir}/${e.name}`);
    }
  }
  return out.sort();
}

Deno.test("bundle: the worker holds the engine and no Deno-only code, and names what it fetches", async () => {
  const r = await bundleForBrowser({
    entry: "web/worker.ts",
    root: REPO_ROOT,
    bundlePath: "web/worker.js",
  });
  assert.deepEqual(r.leftOut, ["src/io/decode.ts", "src/io/read_file.ts"]);
  assert.deepEqual(r.missing, []);
  assert.deepEqual(
    r.assets,
    [...await shaders(), "weights/coarse_loftr_teacher.safetensors"].sort(),
  );
  for (
    const m of [
      "src/pipeline/matcher.ts",
      "src/geometry/ransac_gpu.ts",
      "src/io/draw.ts",
      "web/decode.ts",
    ]
  ) {
    assert.ok(r.modules.includes(m), m);
  }
  assert.ok(
    r.modules.some((m) => m.startsWith("npm:ml-matrix@")),
    "ml-matrix, as Deno resolves it",
  );
  assert.ok(!r.modules.some((m) => /codecs|imagescript|fflate|mesa/.test(m)), r.modules.join(" "));
  assert.doesNotMatch(r.code, /\bDeno\./);
  // import.meta.url of each module is its repository path relative to the bundle.
  assert.match(r.code, /new URL\("\.\.\/src\/kernels\/linear\.ts", import\.meta\.url\)\.href/);
  // A path or bytes reaching the left-out decoder fails with a sentence, not a missing module.
  assert.match(r.code, /src\/io\/decode\.ts is not part of this page/);
});

Deno.test("bundle: Deno-only imports and the Deno API are refused, naming the module", async () => {
  const refused = await rejection(
    bundleForBrowser({ entry: "mod.ts", root: REPO_ROOT, bundlePath: "app.js" }),
  );
  assert.ok(refused instanceof BundleError);
  assert.match(refused.message, /"node:crypto" imported by src\/io\/model_zoo\.ts: Deno-only/);
  assert.match(refused.message, /imagescript.*Could not resolve "fs"/);
  const deno = await rejection(
    bundleForBrowser({ entry: "src/io/mesa.ts", root: REPO_ROOT, bundlePath: "app.js" }),
  );
  assert.ok(deno instanceof BundleError);
  assert.match(deno.message, /^the page would use the Deno API: src\/io\/mesa\.ts:\d+: /);
  assert.equal(relativePath("/a/web/", "/a/src/gpu/gpu.ts"), "../src/gpu/gpu.ts");
  assert.equal(relativePath("/a/", "/a/src/x.ts"), "./src/x.ts");
});

Deno.test("site: index.html, both bundles and every file they fetch; written, rebuilt, never over other files", async () => {
  const site = await buildSite();
  const paths = [...site.files.keys()].sort();
  assert.deepEqual(
    paths,
    [
      "index.html",
      ...await shaders(),
      "tests/fixtures/images/fountain_0000.jpg",
      "tests/fixtures/images/fountain_0001.jpg",
      "web/main.js",
      "web/worker.js",
      "weights/coarse_loftr_teacher.safetensors",
    ].sort(),
  );
  const text = (p: string) => new TextDecoder().decode(site.files.get(p));
  assert.match(text("index.html"), /<script type="module" src="web\/main\.js"><\/script>/);
  assert.match(text("web/main.js"), /new URL\("\.\/worker\.js", /);
  assert.deepEqual(site.bundles.map((b) => b.bundlePath), ["web/main.js", "web/worker.js"]);

  const dir = await Deno.makeTempDir();
  try {
    await writeSite(site, `${dir}/site`);
    await writeSite(site, `${dir}/site`); // an earlier build is replaced
    assert.deepEqual(
      await Deno.readFile(`${dir}/site/web/worker.js`),
      site.files.get("web/worker.js"),
    );
    await Deno.writeTextFile(`${dir}/notes.txt`, "mine");
    const e = await rejection(writeSite(site, dir));
    assert.equal(e.message, `${dir}: not empty and not a build of the page; choose another folder`);
    assert.equal(await Deno.readTextFile(`${dir}/notes.txt`), "mine");
    const out = capture();
    assert.equal(await run(buildWeb, ["--out", `${dir}/cli`], out), 0);
    assert.match(
      out.lines[0],
      new RegExp(`^wrote ${dir}/cli: ${site.files.size} files, [\\d.]+ MiB$`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve: the site's files and the images folder, nothing else", async () => {
  const images = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${images}/a.jpg`, "jpeg");
    const handler = siteHandler(
      { files: new Map([["index.html", new TextEncoder().encode("<p>")]]), bundles: [] },
      images,
    );
    const get = (path: string, method = "GET") =>
      handler(new Request(`http://127.0.0.1/${path}`, { method }));
    const home = await get("");
    assert.equal(home.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(await home.text(), "<p>");
    const image = await get("images/a.jpg");
    assert.deepEqual([image.status, image.headers.get("content-type")], [200, "image/jpeg"]);
    assert.equal(await image.text(), "jpeg");
    assert.equal((await get("images/a.jpg", "HEAD")).status, 200);
    for (
      const path of [
        "images/..%2F..%2Fetc%2Fpasswd",
        "images/",
        "images/b.jpg",
        "deno.json",
        "web/main.ts",
      ]
    ) {
      const r = await get(path);
      await r.body?.cancel();
      assert.equal(r.status, 404, path);
    }
    assert.equal((await get("index.html", "POST")).status, 405);
  } finally {
    await Deno.remove(images, { recursive: true });
  }
});

Deno.test("serve: command line", async () => {
  const help = capture();
  assert.equal(await run(serve, ["--help"], help), 0);
  assert.match(help.lines[0], /^Usage: deno task serve \[--port P\] \[--images DIR\]/);
  const port = capture();
  assert.equal(await run(serve, ["--port", "http"], port), 2);
  assert.deepEqual(port.errors, ['error: --port expects a port number, got "http" (see --help)']);
  const images = capture();
  assert.equal(await run(serve, ["--images", "/no/such/dir"], images), 1);
  assert.deepEqual(images.errors, ["error: --images /no/such/dir: no such folder"]);
});
