/**
 * The model registry and the downloader of `deno task weights`, offline: a
 * server on 127.0.0.1 plays the published locations. Checkpoints are built by
 * hand (all tensors viewing one small storage, so a full-size outdoor state
 * dict is a few hundred kB), and the random-weights outdoor checkpoint of
 * ../shared is served as well when it is there.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  defaultCacheDir,
  downloadModel,
  getModel,
  gitBlobSha1,
  listModels,
  type ModelLocation,
  ModelZooError,
  readExpectedTensors,
  resolveModel,
} from "../../src/io/model_zoo.ts";
import { BUNDLED_WEIGHTS, loadWeights } from "../../src/io/weights.ts";
import { needsShared, rejection, seededRandom, sharedDir } from "../support/util.ts";
import { dict, int, type Op, pickle, tensorOp, torchZip } from "../support/torch_writer.ts";

/**
 * A Lightning-layout checkpoint (`state_dict` with `matcher.` names) holding
 * float tensors of the given shapes, all views of one seeded storage, plus a
 * `num_batches_tracked` counter as the real files have.
 */
function checkpoint(shapes: [string, number[]][], prefix = "matcher."): Uint8Array {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const numel = Math.max(...shapes.map(([, s]) => size(s)));
  const values = Float32Array.from({ length: numel }, seededRandom(3));
  const entries: [string, Op][] = shapes.map((
    [name, shape],
  ) => [prefix + name, tensorOp("0", "FloatStorage", numel, shape)]);
  entries.push([`${prefix}backbone.bn1.num_batches_tracked`, tensorOp("1", "LongStorage", 1, [])]);
  const root = dict([["epoch", int(0)], ["state_dict", dict(entries)]]);
  return torchZip(pickle(root), {
    "0": new Uint8Array(values.buffer),
    "1": new Uint8Array(new BigInt64Array([7n]).buffer),
  }, "run");
}

const outdoor = getModel("outdoor");
assert.ok(outdoor.kind === "download");
const expected = await readExpectedTensors(outdoor.expectedTensors);

/** A checkpoint with exactly the outdoor model's tensor names and shapes. */
const fakeOutdoor = checkpoint([...expected]);

// ---- a local server playing the published locations ----

/** How a route answers: the bytes, how, and with which headers. */
interface Route {
  body: Uint8Array | string;
  status?: number;
  type?: string;
  /** Send only this many bytes of the body, then end the response. */
  cut?: number;
  /** Announce the full length even when `cut` sends less. */
  announce?: boolean;
}

interface Server {
  url(path: string): string;
  /** Paths requested, in order. */
  requests: string[];
}

/** Runs `body` with a server on 127.0.0.1 answering `routes` (404 elsewhere), then stops it. */
async function withServer(
  routes: Record<string, Route>,
  body: (server: Server) => Promise<void>,
): Promise<void> {
  const requests: string[] = [];
  const http = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    const route = routes[path];
    if (!route) return new Response("no such file", { status: 404, statusText: "Not Found" });
    const bytes = typeof route.body === "string"
      ? new TextEncoder().encode(route.body)
      : route.body;
    const sent = bytes.subarray(0, route.cut ?? bytes.length);
    const headers = new Headers({ "content-type": route.type ?? "application/octet-stream" });
    if (route.announce) headers.set("content-length", String(bytes.length));
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < sent.length; i += 1 << 16) c.enqueue(sent.subarray(i, i + (1 << 16)));
        c.close();
      },
    });
    return new Response(stream, { status: route.status ?? 200, headers });
  });
  try {
    const base = `http://127.0.0.1:${http.addr.port}`;
    await body({ url: (path) => base + path, requests });
  } finally {
    await http.shutdown();
  }
}

/** Runs `body` with an empty temporary cache directory and removes it afterwards. */
async function withCache(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "deno-loftr-cache-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function files(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

/** A port nothing listens on (port 1 and other "bad ports" are refused by fetch itself). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Installing from one location that serves `route`: the error, after checking
 * that it names the location and the manual alternative and leaves the cache empty.
 */
async function failure(route: Route, checksum?: string): Promise<string> {
  let message = "";
  await withServer({ "/model.ckpt": route }, async (server) => {
    await withCache(async (cacheDir) => {
      const location: ModelLocation = {
        url: server.url("/model.ckpt"),
        label: "test",
        gitBlobSha1: checksum,
      };
      const e = await rejection(downloadModel("outdoor", { cacheDir, locations: [location] }));
      assert.ok(e instanceof ModelZooError, String(e));
      message = e.message;
      assert.ok(!message.includes("\n"), message);
      assert.ok(
        message.startsWith(`could not install model 'outdoor': ${location.url}: `),
        message,
      );
      assert.match(message, /download outdoor_ds\.ckpt yourself .*drive\.google\.com/);
      assert.match(message, /`deno task convert <file>`/);
      assert.deepEqual(await files(cacheDir), []);
    });
  });
  return message;
}

/** The failure paths every served checkpoint must go through cleanly. */
async function checkFailures(bytes: Uint8Array): Promise<void> {
  const wrong = "0123456789abcdef0123456789abcdef01234567";
  assert.match(
    await failure({ body: bytes }, wrong),
    new RegExp(`checksum mismatch: git blob ${gitBlobSha1(bytes)}, expected ${wrong}`),
  );
  const half = bytes.length >> 1;
  assert.match(
    await failure({ body: bytes, cut: half, announce: true }),
    new RegExp(`: truncated download: \\d+ of ${bytes.length} bytes`),
  );
  assert.match(
    await failure({ body: bytes, cut: half }),
    /: corrupt or truncated zip archive|: zip entry .* is truncated/,
  );
  const page = "<!DOCTYPE html><html><body>Google Drive - Virus scan warning</body></html>";
  assert.match(
    await failure({ body: page, type: "text/html; charset=utf-8" }),
    /: served an HTML page \(content-type text\/html; charset=utf-8\), not the checkpoint;/,
  );
  assert.match(
    await failure({ body: page }),
    /: an HTML\/XML page \(\d+ bytes\), not a checkpoint;/,
  );
  assert.match(await failure({ body: "gone", status: 404 }), /: HTTP 404 Not Found;/);
}

// ---- the registry and the cache directory ----

Deno.test("registry: outdoor locations in PROVENANCE order, coarse is the bundled file", async () => {
  assert.ok(outdoor.kind === "download");
  assert.deepEqual(outdoor.locations.map((l) => [l.url, l.gitBlobSha1, l.manual]), [
    ["https://drive.google.com/drive/folders/1DOcOPZb3-5cWxLqn256AhwUVjBPifhuf", undefined, true],
    ["http://cmp.felk.cvut.cz/~mishkdmy/models/loftr_outdoor.ckpt", undefined, undefined],
    [
      "https://raw.githubusercontent.com/MACILLAS/LoFTR/master/weights/outdoor_ds.ckpt",
      "a8c45b0ab725f933c45f001effae25f22a4574dd",
      undefined,
    ],
  ]);
  // 211 tensors in the list, of which 17 integer BatchNorm counters the converter drops.
  assert.equal(expected.size, 211 - 17);
  assert.deepEqual(expected.get("backbone.conv1.weight"), [128, 1, 7, 7]);
  assert.deepEqual(expected.get("loftr_fine.layers.0.mlp.0.weight"), [256, 256]);
  assert.ok(![...expected.keys()].some((k) => k.startsWith("matcher.")));
  if (sharedDir) {
    const copy = await Deno.readTextFile(outdoor.expectedTensors);
    assert.equal(copy, await Deno.readTextFile(`${sharedDir}weights/expected_state_dict_keys.txt`));
  }
  assert.equal(
    await resolveModel("coarse", { cacheDir: "/nonexistent" }),
    fileURLToPath(BUNDLED_WEIGHTS),
  );
  assert.throws(
    () => getModel("indoor"),
    /^ModelZooError: unknown model 'indoor' \(known: coarse, outdoor\)$/,
  );
  assert.equal(
    gitBlobSha1(new TextEncoder().encode("hello\n")),
    "ce013625030ba8dba906f756967f9e9ca394464a",
  );
});

Deno.test("cache directory: DENO_LOFTR_CACHE, then XDG_CACHE_HOME, then the platform's", () => {
  const keys = ["DENO_LOFTR_CACHE", "XDG_CACHE_HOME", "HOME", "LOCALAPPDATA"];
  const saved = keys.map((k) => Deno.env.get(k));
  try {
    for (const k of keys) Deno.env.delete(k);
    Deno.env.set("HOME", "/home/u");
    Deno.env.set("LOCALAPPDATA", "C:\\Users\\u\\AppData\\Local");
    const platform = {
      linux: "/home/u/.cache/deno-loftr",
      darwin: "/home/u/Library/Caches/deno-loftr",
      windows: "C:\\Users\\u\\AppData\\Local\\deno-loftr",
    }[Deno.build.os as string] ?? "/home/u/.cache/deno-loftr";
    assert.equal(defaultCacheDir(), platform);
    Deno.env.set("XDG_CACHE_HOME", "/xdg");
    assert.match(defaultCacheDir(), /^[\\/]xdg[\\/]deno-loftr$/);
    Deno.env.set("DENO_LOFTR_CACHE", "/mine");
    assert.equal(defaultCacheDir(), "/mine");
  } finally {
    keys.forEach((k, i) =>
      saved[i] === undefined ? Deno.env.delete(k) : Deno.env.set(k, saved[i]!)
    );
  }
});

Deno.test("resolveModel: a model not downloaded yet says which command installs it", async () => {
  await withCache(async (cacheDir) => {
    const e = await rejection(resolveModel("outdoor", { cacheDir }));
    assert.equal(e.message, "model 'outdoor' is not installed: run `deno task weights outdoor`");
    const list = await listModels({ cacheDir });
    assert.deepEqual(list.map((m) => [m.name, m.kind, m.installed]), [
      ["coarse", "bundled", true],
      ["outdoor", "download", false],
    ]);
    assert.equal(list[1].path, join(cacheDir, "loftr_outdoor.safetensors"));
  });
});

// ---- downloads from a local server ----

Deno.test("download: a full-size outdoor checkpoint is verified, converted and found by resolveModel", async () => {
  await withServer(
    { "/outdoor_ds.ckpt": { body: fakeOutdoor, announce: true } },
    async (server) => {
      await withCache(async (cacheDir) => {
        const url = server.url("/outdoor_ds.ckpt");
        const blob = gitBlobSha1(fakeOutdoor);
        const seen: string[] = [];
        const result = await downloadModel("outdoor", {
          cacheDir,
          locations: [
            { url: server.url("/missing.ckpt"), label: "a dead mirror" },
            { url, label: "test", gitBlobSha1: blob },
          ],
          onProgress: (p) => seen.push(p.phase),
        });
        assert.deepEqual(result, {
          path: join(cacheDir, "loftr_outdoor.safetensors"),
          from: url,
          gitBlobSha1: blob,
        });
        assert.deepEqual(server.requests, ["/missing.ckpt", "/outdoor_ds.ckpt"]);
        assert.equal(seen[0], "failed");
        assert.ok(seen.includes("download") && seen.at(-1) === "verify");
        assert.deepEqual(await files(cacheDir), ["loftr_outdoor.safetensors"]);
        assert.equal(await resolveModel("outdoor", { cacheDir }), result.path);

        const w = await loadWeights(result.path);
        assert.equal(w.config.backbone, "ResNetFPN_8_2");
        assert.deepEqual(w.config.blockDims, [128, 196, 256]);
        assert.equal(w.config.coarse.dModel, 256);
        assert.equal(w.config.coarse.nHeads, 8);
        assert.equal(w.config.fine?.dModel, 128);
        assert.equal(w.config.matching.threshold, 0.2);
        assert.equal(w.tensors.size, expected.size);

        // Installed: kept without a request; --force replaces it.
        assert.deepEqual(await downloadModel("outdoor", { cacheDir, locations: [url] }), {
          path: result.path,
          from: null,
          gitBlobSha1: null,
        });
        assert.equal(server.requests.length, 2);
        // A failed reinstall leaves the installed file as it was.
        const before = await Deno.readFile(result.path);
        const e = await rejection(
          downloadModel("outdoor", { cacheDir, force: true, locations: [server.url("/gone")] }),
        );
        assert.match(e.message, /HTTP 404/);
        assert.deepEqual(await files(cacheDir), ["loftr_outdoor.safetensors"]);
        assert.deepEqual(await Deno.readFile(result.path), before);
      });
    },
  );
});

Deno.test("download: wrong checksum, truncated bodies, HTML pages and 404 leave nothing behind", async () => {
  await checkFailures(fakeOutdoor);
});

Deno.test("download: the manual Google Drive location is named, never fetched", async () => {
  await withCache(async (cacheDir) => {
    const fetched: string[] = [];
    const e = await rejection(downloadModel("outdoor", {
      cacheDir,
      fetch: (input) => {
        fetched.push(String(input));
        return Promise.reject(new TypeError("fetch failed", { cause: new Error("offline") }));
      },
    }));
    assert.ok(outdoor.kind === "download");
    assert.deepEqual(fetched, outdoor.locations.filter((l) => !l.manual).map((l) => l.url));
    assert.equal(
      e.message,
      "could not install model 'outdoor': no network connection to cmp.felk.cvut.cz or " +
        "raw.githubusercontent.com (offline); download outdoor_ds.ckpt yourself (from the LoFTR " +
        "authors' Google Drive folder, https://drive.google.com/drive/folders/" +
        "1DOcOPZb3-5cWxLqn256AhwUVjBPifhuf) and run `deno task weights outdoor --from <file>`, or " +
        "convert it with `deno task convert <file>` and pass the result to --weights",
    );
    assert.deepEqual(await files(cacheDir), []);
  });
});

Deno.test("download: no network gives one sentence with the manual alternative", async () => {
  await withCache(async (cacheDir) => {
    const port = closedPort();
    const urls = [`http://127.0.0.1:${port}/loftr_outdoor.ckpt`, `http://127.0.0.1:${port}/b.ckpt`];
    const e = await rejection(downloadModel("outdoor", { cacheDir, locations: urls }));
    assert.ok(e instanceof ModelZooError);
    assert.match(
      e.message,
      new RegExp(
        `^could not install model 'outdoor': no network connection to 127\\.0\\.0\\.1:${port} ` +
          `\\([^;]*Connection refused[^;]*\\); download outdoor_ds\\.ckpt yourself .* and run ` +
          "`deno task weights outdoor --from <file>`, or convert it with `deno task convert " +
          "<file>` and pass the result to --weights$",
      ),
    );
    assert.deepEqual(await files(cacheDir), []);
  });
});

Deno.test("download: checkpoints of other architectures are refused, naming what was found", async () => {
  const superglue = checkpoint([
    ["kenc.encoder.0.weight", [32, 3, 1]],
    ["kenc.encoder.0.bias", [32]],
    ["gnn.layers.0.attn.merge.weight", [256, 256, 1]],
    ["final_proj.weight", [256, 256, 1]],
  ], "");
  assert.match(
    await failure({ body: superglue }),
    /: not a LoFTR state dict \(no backbone\.conv1 \/ loftr_coarse tensors; found 4 tensors such as kenc\.encoder\.0\.weight, kenc\.encoder\.0\.bias, gnn\.layers\.0\.attn\.merge\.weight, final_proj\.weight\);/,
  );
  const eloftr = checkpoint([
    ["backbone.layer0.rbr_dense.conv.weight", [32, 1, 3, 3]],
    ["backbone.layer0.rbr_dense.bn.weight", [32]],
    ["loftr_coarse.layers.0.aggregate.weight", [256, 1, 4, 4]],
  ]);
  assert.match(
    await failure({ body: eloftr }),
    /: not a LoFTR state dict .*found 3 tensors such as backbone\.layer0\.rbr_dense\.conv\.weight/,
  );
  // A LoFTR, but not the outdoor one: the shapes are checked against the expected list.
  const small = checkpoint(
    [...expected].map(([n, s]) => [n, n === "backbone.conv1.weight" ? [64, 1, 7, 7] : s]),
  );
  assert.match(
    await failure({ body: small }),
    /: not the expected LoFTR state dict: 1 tensors of another shape \(such as backbone\.conv1\.weight \[64,1,7,7\], expected \[128,1,7,7\]\);/,
  );
  const partial = checkpoint(
    [...expected].filter(([n]) => n !== "backbone.layer1.0.bn1.running_var"),
  );
  assert.match(
    await failure({ body: partial }),
    /: not the expected LoFTR state dict: 1 tensors missing \(such as backbone\.layer1\.0\.bn1\.running_var\);/,
  );
});

Deno.test("download: an interrupted download removes its temporary file", async () => {
  await withServer({ "/m.ckpt": { body: fakeOutdoor, announce: true } }, async (server) => {
    await withCache(async (cacheDir) => {
      const abort = new AbortController();
      const e = await rejection(downloadModel("outdoor", {
        cacheDir,
        locations: [server.url("/m.ckpt"), server.url("/never")],
        signal: abort.signal,
        onProgress: () => abort.abort(),
      }));
      assert.match(
        e.message,
        /^download of model 'outdoor' from http:.*\/m\.ckpt was interrupted$/,
      );
      assert.deepEqual(server.requests, ["/m.ckpt"]);
      assert.deepEqual(await files(cacheDir), []);
    });
  });
});

// ---- the random-weights outdoor checkpoint of ../shared ----

Deno.test({
  ...needsShared(
    "download: the random-weights outdoor checkpoint installs with the outdoor config",
  ),
  fn: async () => {
    const bytes = await Deno.readFile(`${sharedDir}weights/loftr_outdoor_random_seed0.ckpt`);
    await withServer({ "/loftr_outdoor.ckpt": { body: bytes, announce: true } }, async (server) => {
      await withCache(async (cacheDir) => {
        const url = server.url("/loftr_outdoor.ckpt");
        const result = await downloadModel("outdoor", {
          cacheDir,
          locations: [{ url, label: "test", gitBlobSha1: gitBlobSha1(bytes) }],
        });
        assert.deepEqual(await files(cacheDir), ["loftr_outdoor.safetensors"]);
        const w = await loadWeights(await resolveModel("outdoor", { cacheDir }));
        assert.equal(w.source, result.path);
        assert.equal(w.config.backbone, "ResNetFPN_8_2");
        assert.deepEqual([w.config.initialDim, w.config.coarse.dModel, w.config.coarse.nHeads], [
          128,
          256,
          8,
        ]);
        assert.deepEqual(
          w.config.coarse.layers,
          Array(8).fill(null).map((_, i) => i % 2 ? "cross" : "self"),
        );
        assert.deepEqual([w.config.fine?.dModel, w.config.fine?.window], [128, 5]);
        assert.equal(
          [...w.tensors.values()].reduce((n, t) => n + t.data.length, 0),
          11_568_160,
        );
      });
    });
  },
});

Deno.test({
  ...needsShared("download: the random-weights checkpoint's failure paths leave nothing behind"),
  fn: async () => {
    await checkFailures(await Deno.readFile(`${sharedDir}weights/loftr_outdoor_random_seed0.ckpt`));
  },
});
