// End to end: images in, matches out, through the public API and the `match` CLI,
// with the bundled distilled coarse LoFTR (real trained weights).
import assert from "node:assert/strict";
import {
  drawMatches,
  Gpu,
  grayFromArray,
  type KernelTuning,
  loadImage,
  Matcher,
} from "../../mod.ts";
import { fixture, readNpy, runCli, TUNINGS } from "../support/util.ts";

const PNG0 = fixture("images/fountain_0001.png"); // the reference's own 640×480 inputs
const PNG1 = fixture("images/fountain_0000.png");
const JPG0 = fixture("images/fountain_0001.jpg"); // the original 1200×800 photos
const JPG1 = fixture("images/fountain_0000.jpg");

const shared = new Map<string, Matcher>();
/** One matcher per kernel tuning (default: the adapter's), kept across tests. */
async function matcher(tuning?: KernelTuning): Promise<Matcher> {
  const key = tuning ?? "default";
  if (!shared.has(key)) {
    shared.set(key, await Matcher.create({ gpu: await Gpu.create({ tuning }) }));
  }
  return shared.get(key)!;
}

for (const tuning of TUNINGS) {
  Deno.test({
    name:
      `reference inputs (640×480 PNGs) give exactly the reference's 717 matches and keypoints (${tuning} tuning)`,
    sanitizeResources: false,
    fn: async () => {
      const m = await matcher(tuning);
      const r = await m.match(PNG0, PNG1, { resize: { width: 640, height: 480 } });
      const i = readNpy(fixture("tiny_real/i_ids.npy")).data;
      const j = readNpy(fixture("tiny_real/j_ids.npy")).data;
      assert.equal(r.count, 717);
      for (let k = 0; k < r.count; k++) {
        // Coarse keypoints are the cell corners [i % 40, i // 40] · 16: exact.
        assert.deepEqual([r.keypoints0[2 * k], r.keypoints0[2 * k + 1]], [
          (i[k] % 40) * 16,
          Math.floor(i[k] / 40) * 16,
        ]);
        assert.deepEqual([r.keypoints1[2 * k], r.keypoints1[2 * k + 1]], [
          (j[k] % 40) * 16,
          Math.floor(j[k] / 40) * 16,
        ]);
      }
      assert.equal(r.std, null); // coarse-only model: no refinement
      assert.ok(Object.keys(r.timings).includes("backbone"));
    },
  });
}

Deno.test({
  name: "original JPEGs through our decoder and INTER_AREA: count within 10% of the reference's",
  sanitizeResources: false,
  fn: async () => {
    const m = await matcher();
    const r = await m.match(JPG0, JPG1, { resize: { width: 640, height: 480 } });
    assert.ok(Math.abs(r.count - 717) <= 71.7, `${r.count} matches vs 717`);
    // Keypoints come back in original 1200×800 pixels: x·1200/640, y·800/480.
    for (let k = 0; k < r.count; k++) {
      assert.equal((r.keypoints0[2 * k] / 1200 * 640) % 16, 0);
      assert.ok(r.keypoints0[2 * k] < 1200 && r.keypoints0[2 * k + 1] < 800);
    }
  },
});

Deno.test({
  name: "images of different sizes and aspect ratios; bytes and arrays as inputs",
  sanitizeResources: false,
  fn: async () => {
    const m = await matcher();
    const png1 = await Deno.readFile(PNG1);
    const gray0 = await loadImage(JPG0);
    // Default policy: long side 640 → 1200×800 becomes 640×432 (426.7 rounded to 16);
    // the 640×480 PNG stays 640×480.
    const r = await m.match(gray0, png1);
    assert.deepEqual(r.inputSizes, [{ width: 640, height: 432 }, { width: 640, height: 480 }]);
    assert.ok(r.count > 300, `${r.count} matches`);
    for (let k = 0; k < r.count; k++) {
      assert.ok(r.keypoints0[2 * k] < 1200 && r.keypoints0[2 * k + 1] < 800);
      assert.ok(r.keypoints1[2 * k] < 640 && r.keypoints1[2 * k + 1] < 480);
    }
  },
});

Deno.test({
  name: "bounded memory: 2048×1536 (12288 tokens per image) stays under 160 MB of GPU buffers",
  sanitizeResources: false,
  fn: async () => {
    const m = await matcher();
    m.gpu.trim();
    m.gpu.resetPeak();
    // The full confidence matrix would be 12288² · 4 B = 604 MB; with 16 MiB tiles the
    // largest buffers are the tile and the backbone's 1/2-resolution maps (8 · 1024 · 768 · 4 B).
    const r = await m.match(JPG0, JPG1, {
      resize: { width: 2048, height: 1536 },
      maxTileBytes: 16 * 2 ** 20,
    });
    const peak = m.gpu.memory().peak;
    assert.ok(peak < 160e6, `peak ${peak / 1e6} MB`);
    assert.ok(r.count > 500, `${r.count} matches`);
  },
});

Deno.test({
  name: "match CLI: bad inputs end in one line naming the input, exit code ≠ 0",
  sanitizeResources: false,
  fn: async () => {
    for (const m of shared.values()) m.gpu.destroy();
    shared.clear();
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/empty.png`, new Uint8Array());
      await Deno.writeTextFile(`${dir}/notes.jpg`, "not an image\n");
      await Deno.writeTextFile(`${dir}/bad.safetensors`, "nonsense");
      // Gray PNGs drawn with our own encoder (one dark pixel, or 12×40).
      const png = (w: number, h: number) =>
        drawMatches(
          grayFromArray(new Uint8Array(w * h), w, h, "x"),
          grayFromArray(new Uint8Array(1), 1, 1, "y"),
          new Float32Array(),
          new Float32Array(),
          { gap: 0 },
        );
      await Deno.writeFile(`${dir}/one.png`, png(1, 1));
      await Deno.writeFile(`${dir}/small.png`, png(12, 40));
      const cases: [string[], RegExp][] = [
        [[`${dir}/missing.jpg`, JPG1], /missing\.jpg.*no such file/],
        [[`${dir}/notes.jpg`, JPG1], /notes\.jpg.*not an image/],
        [[`${dir}/empty.png`, JPG1], /empty\.png.*empty/],
        [[`${dir}/one.png`, JPG1], /one\.png/],
        [[`${dir}/small.png`, JPG1], /small\.png.*smaller than the coarse stride 16/],
        [[dir, JPG1], /is a directory/],
        [[JPG0, JPG1, "--weights", `${dir}/bad.safetensors`], /bad\.safetensors/],
        [[JPG0, JPG1, "--weights", JPG0], /fountain_0001\.jpg/],
        [[JPG0], /expected two images/],
        [[JPG0, JPG1, "--resize", "big"], /--resize/],
        [[JPG0, JPG1, "--precision", "f8"], /--precision expects f32 or f16/],
      ];
      for (const [args, pattern] of cases) {
        const out = await runCli("src/cli/match.ts", args);
        const err = out.err.trim();
        assert.notEqual(out.code, 0, `${args.join(" ")}: exit 0`);
        assert.equal(err.split("\n").length, 1, `${args.join(" ")}: ${err}`);
        assert.match(err, /^error: /);
        assert.match(err, pattern);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
