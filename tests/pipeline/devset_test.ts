// The bundled model on every pair of ../shared/data/relpose_dev against the reference
// pipeline's matches (../shared/reference/tiny_real/dev_matches): fed with the
// reference's own 640×480 inputs, at least 99% of its matches per pair; fed from the
// original JPEGs through our decoder and INTER_AREA, a match count within 10%.
import assert from "node:assert/strict";
import { parseCsv as parse, unzipSync } from "../../src/io/deps.ts";
import { Matcher } from "../../mod.ts";
import { needsShared, readNpy, sharedDir } from "../support/util.ts";

Deno.test({
  ...needsShared("relpose_dev, 61 pairs: same coarse matches as the reference, and from the JPEGs"),
  sanitizeResources: false,
  fn: async () => {
    const dev = `${sharedDir}data/relpose_dev/`;
    const ref = `${sharedDir}reference/tiny_real/`;
    const pairs: Record<string, string>[] = parse(await Deno.readTextFile(`${dev}pairs.csv`), {
      columns: true,
    });
    assert.equal(pairs.length, 61);
    const matcher = await Matcher.create();
    const stem = (f: string) => f.replace(/\.jpg$/, "");
    const rows: string[] = [];
    let worstShare = 1, worstCount = 0;
    try {
      for (const [k, p] of pairs.entries()) {
        const npz = unzipSync(
          await Deno.readFile(`${ref}dev_matches/${String(k).padStart(3, "0")}.npz`),
        );
        const i = readNpy(npz["i_ids.npy"]).data, j = readNpy(npz["j_ids.npy"]).data;
        const want = new Set(Array.from(i, (v, n) => `${v},${j[n]}`));
        const t0 = performance.now();
        const png = await matcher.match(
          `${ref}dev_inputs/${stem(p.image1)}.png`,
          `${ref}dev_inputs/${stem(p.image2)}.png`,
          { resize: { width: 640, height: 480 } },
        );
        const ms = performance.now() - t0;
        // Coarse keypoints are cell corners · 16: recover the token ids exactly.
        let found = 0;
        for (let n = 0; n < png.count; n++) {
          const ti = png.keypoints0[2 * n + 1] / 16 * 40 + png.keypoints0[2 * n] / 16;
          const tj = png.keypoints1[2 * n + 1] / 16 * 40 + png.keypoints1[2 * n] / 16;
          if (want.has(`${ti},${tj}`)) found++;
        }
        const share = want.size ? found / want.size : 1;
        const jpg = await matcher.match(`${dev}images/${p.image1}`, `${dev}images/${p.image2}`, {
          resize: { width: 640, height: 480 },
        });
        const countErr = want.size ? Math.abs(jpg.count - want.size) / want.size : 0;
        worstShare = Math.min(worstShare, share);
        worstCount = Math.max(worstCount, countErr);
        rows.push(
          `${k}\t${p.pair_id}\tref ${want.size}\tours ${png.count}\tshared ${
            (100 * share).toFixed(1)
          }%` +
            `\tjpeg ${jpg.count} (${(100 * countErr).toFixed(1)}%)\t${ms.toFixed(0)} ms`,
        );
        assert.ok(share >= 0.99, `pair ${k}: ${found} of ${want.size} reference matches`);
        assert.ok(
          countErr <= 0.1,
          `pair ${k}: ${jpg.count} matches from the JPEGs vs ${want.size}`,
        );
      }
    } finally {
      matcher.destroy();
      console.log(rows.join("\n"));
      console.log(
        `worst share of reference matches ${(100 * worstShare).toFixed(2)}%, ` +
          `worst JPEG count difference ${(100 * worstCount).toFixed(2)}%`,
      );
    }
  },
});
