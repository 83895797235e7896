// `deno task match` as a user runs it: the geometry after matching (F, the
// relative pose from given, listed or EXIF intrinsics, a homography and its
// stitch), the outputs with their conventions, and bad command lines.
import assert from "node:assert/strict";
import { adjugate3 } from "../../src/geometry/linalg.ts";
import { rotationError } from "../../src/geometry/metric.ts";
import { decodeImage, decodeImageRgb, readImageFile } from "../../src/io/decode.ts";
import { encodePng } from "../../src/io/viz.ts";
import { loadSiftPairs } from "../../testing/ransac_data.ts";
import { jpegWithExif } from "../support/exif.ts";
import { CONFIG_KEY } from "../../src/io/load_weights.ts";
import { writeSafetensors } from "../../src/io/safetensors.ts";
import { syntheticWeights } from "../../testing/synthetic_weights.ts";
import { fixture, runCli, sharedDir, withTempDir } from "../support/util.ts";

const JPG0 = fixture("images/fountain_0001.jpg"), JPG1 = fixture("images/fountain_0000.jpg");
const match = (args: string[]) => runCli("src/cli/match.ts", args);

/** Angle between two 3-vectors, degrees (not folded). */
function angle(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const n = Math.hypot(a[0], a[1], a[2]) * Math.hypot(b[0], b[1], b[2]);
  return (Math.acos(Math.max(-1, Math.min(1, dot / n))) * 180) / Math.PI;
}

// Row 0 of the relpose fixture is this pair (fountain_0001 → fountain_0000), K in OpenCV pixels.
const truth = (await loadSiftPairs(fixture("relpose")))[0];
const [fx, , cx, , fy, cy] = Array.from(truth.K0);

Deno.test("match --K0: the relative pose of the fixture pair against ground truth; JSON and CSV with their conventions", async () => {
  await withTempDir(async (dir) => {
    const r = await match([
      JPG0,
      JPG1,
      "--K0",
      `${fx},${fy},${cx},${cy}`,
      "--out",
      `${dir}/m.json`,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^R: .*rotation \d+\.\d+°/m);
    const j = JSON.parse(await Deno.readTextFile(`${dir}/m.json`));
    assert.equal(j.conventions.fundamental, "x1ᵀ F x0 = 0, row-major, unit Frobenius norm");
    assert.match(j.conventions.pixels, /centre of the top-left pixel/);
    assert.equal(j.keypoints0.length, j.count);
    assert.equal(j.inliers.length, j.count);
    assert.equal(j.inliers.reduce((a: number, b: number) => a + b, 0), j.geometry.inlierCount);
    assert.equal(j.intrinsics.source, "given for both images");
    // The IMC-style evaluation of this pair is accurate at every threshold (< 1°); through
    // E and the cheirality check, the pose is within 0.5° and its direction within 3°.
    assert.ok(
      rotationError(j.pose.R, truth.R) < 0.5,
      `rotation error ${rotationError(j.pose.R, truth.R)}°`,
    );
    assert.ok(angle(j.pose.t, truth.T) < 3, `translation direction ${angle(j.pose.t, truth.T)}°`);

    const c = await match([JPG0, JPG1, "--out", `${dir}/m.csv`]);
    assert.equal(c.code, 0, c.err);
    const lines = (await Deno.readTextFile(`${dir}/m.csv`)).trim().split("\n");
    assert.equal(lines[0], "x0,y0,x1,y1,confidence,inlier");
    assert.equal(lines.length - 1, j.count, "the same matches (deterministic)");
    assert.ok(lines.slice(1).every((l) => /^([\d.e+-]+,){5}[01]$/.test(l)), lines[1]);
  });
});

Deno.test("match --cameras: intrinsics by image name in COLMAP's convention; a missing row names the image", async () => {
  await withTempDir(async (dir) => {
    const rows = ["image,width,height,fx,fy,cx,cy"];
    for (const name of ["fountain_0001.jpg", "fountain_0000.jpg"]) {
      rows.push(`${name},1200,800,${fx},${fy},${cx + 0.5},${cy + 0.5}`);
    }
    await Deno.writeTextFile(`${dir}/cameras.csv`, rows.join("\n") + "\n");
    const r = await match([
      JPG0,
      JPG1,
      "--cameras",
      `${dir}/cameras.csv`,
      "--out",
      `${dir}/m.json`,
    ]);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(await Deno.readTextFile(`${dir}/m.json`));
    assert.deepEqual(j.intrinsics.K0, [fx, 0, cx, 0, fy, cy, 0, 0, 1]);
    assert.ok(rotationError(j.pose.R, truth.R) < 0.5);

    await Deno.writeTextFile(`${dir}/one.csv`, rows.slice(0, 2).join("\n") + "\n");
    const bad = await match([JPG0, JPG1, "--cameras", `${dir}/one.csv`]);
    assert.equal(bad.code, 1);
    assert.match(bad.err.trim(), /^error: .*one\.csv: no row for image fountain_0000\.jpg$/);
  });
});

Deno.test("match: with no intrinsics given, the EXIF focal length of both JPEGs, said to be an estimate", async () => {
  await withTempDir(async (dir) => {
    // The photos carry no EXIF: give them a 35 mm equivalent of 31 mm, f = 31/35 · 1200 =
    // 1062.9 px (COLMAP's rule), 1.4% below the true focal length.
    const paths = [`${dir}/a.jpg`, `${dir}/b.jpg`];
    for (const [k, src] of [JPG0, JPG1].entries()) {
      const bytes = jpegWithExif(
        [],
        [{ tag: 0xa405, type: 3, value: 31 }],
        true,
        await Deno.readFile(src),
      );
      await Deno.writeFile(paths[k], bytes);
    }
    const r = await match([...paths, "--out", `${dir}/m.json`]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /^intrinsics: EXIF focal length 1063, 1063 px \(an estimate; principal point at the image centre\)$/m,
    );
    const j = JSON.parse(await Deno.readTextFile(`${dir}/m.json`));
    assert.deepEqual(j.intrinsics.K0, [
      (31 / 35) * 1200,
      0,
      599.5,
      0,
      (31 / 35) * 1200,
      399.5,
      0,
      0,
      1,
    ]);
    // A focal length 1.4% off and a principal point 6 px off: still within a degree.
    assert.ok(
      rotationError(j.pose.R, truth.R) < 1,
      `rotation error ${rotationError(j.pose.R, truth.R)}°`,
    );
  });
});

Deno.test("match --geometry homography: a photo warped by a known H is recovered within a pixel at the corners; --stitch draws both", async () => {
  await withTempDir(async (dir) => {
    // x1 ~ H x0: rotation, shear, perspective, shift of the 1200×800 photo.
    const H = Float64Array.of(0.9, -0.1, 80, 0.06, 0.95, 20, 1e-4, -5e-5, 1);
    const src = await decodeImageRgb(await readImageFile(JPG1), JPG1);
    const Hi = adjugate3(H), { width: W, height: Ht } = src;
    const rgba = new Uint8Array(4 * W * Ht);
    for (let y = 0; y < Ht; y++) {
      for (let x = 0; x < W; x++) {
        const w = Hi[6] * x + Hi[7] * y + Hi[8];
        const u = (Hi[0] * x + Hi[1] * y + Hi[2]) / w, v = (Hi[3] * x + Hi[4] * y + Hi[5]) / w;
        const o = 4 * (y * W + x);
        rgba[o + 3] = 255;
        if (u < 0 || v < 0 || u > W - 2 || v > Ht - 2) continue;
        const ix = Math.floor(u), iy = Math.floor(v), ax = u - ix, ay = v - iy;
        for (let c = 0; c < 3; c++) {
          const at = (xx: number, yy: number) => src.data[3 * (yy * W + xx) + c];
          rgba[o + c] = Math.round(
            (1 - ay) * ((1 - ax) * at(ix, iy) + ax * at(ix + 1, iy)) +
              ay * ((1 - ax) * at(ix, iy + 1) + ax * at(ix + 1, iy + 1)),
          );
        }
      }
    }
    await Deno.writeFile(`${dir}/warped.png`, encodePng(rgba, W, Ht));
    const r = await match([
      ...[JPG1, `${dir}/warped.png`, "--geometry", "homography"],
      ...["--out", `${dir}/h.json`, "--stitch", `${dir}/stitch.png`],
    ]);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(await Deno.readTextFile(`${dir}/h.json`));
    assert.equal(j.geometry.model, "homography");
    const project = (M: ArrayLike<number>, x: number, y: number) => {
      const w = M[6] * x + M[7] * y + M[8];
      return [(M[0] * x + M[1] * y + M[2]) / w, (M[3] * x + M[4] * y + M[5]) / w];
    };
    const corners = [[0, 0], [W - 1, 0], [0, Ht - 1], [W - 1, Ht - 1]];
    const worst = Math.max(...corners.map(([x, y]) => {
      const [a, b] = project(H, x, y), [c, d] = project(j.geometry.H, x, y);
      return Math.hypot(a - c, b - d);
    }));
    // Sub-pixel matches (NCC) on a bilinear warp: measured 0.1 px; a pixel leaves room for
    // the interpolation of the warp itself.
    assert.ok(worst < 1, `corner transfer error ${worst} px`);
    const stitched = await decodeImage(await Deno.readFile(`${dir}/stitch.png`), "stitch");
    assert.ok(stitched.width > W && stitched.height > Ht, `${stitched.width}×${stitched.height}`);
  });
});

Deno.test("match: no model from too few matches: exit 0, the reason printed, the matches still written", async () => {
  await withTempDir(async (dir) => {
    const r = await match([JPG0, JPG1, "--threshold", "0.99999", "--out", `${dir}/m.json`]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /^F: +none: \d+ matches; at least 8 are needed; the matches are still written$/m,
    );
    const j = JSON.parse(await Deno.readTextFile(`${dir}/m.json`));
    assert.equal(j.geometry.F, null);
    assert.equal(j.keypoints0.length, j.count);
  });
});

Deno.test("match: bad geometry options and unwritable outputs are refused in one line, before matching", async () => {
  const cases: [string[], RegExp][] = [
    [["--K0", "1000,1000,600"], /--K0 expects four numbers fx,fy,cx,cy, got "1000,1000,600"/],
    [["--K0", "a,b,c,d"], /--K0 expects four numbers/],
    [["--K1", "0,1000,600,400"], /--K1: focal lengths must be positive/],
    [["--stitch", "/tmp/s.png"], /--stitch needs --geometry homography/],
    [["--geometry", "affine"], /--geometry expects fundamental or homography/],
    [
      ["--geometry", "homography", "--K0", "1,1,1,1"],
      /--K0, --K1 and --cameras give the relative pose/,
    ],
    [["--out", "/no/such/folder/m.json"], /--out \/no\/such\/folder\/m\.json: no folder/],
    [["--out", "/tmp"], /--out \/tmp: the name must end in \.json or \.csv/],
    [["--viz", "/no/such/folder/v.png"], /--viz .*: no folder/],
  ];
  for (const [args, pattern] of cases) {
    const r = await match([JPG0, JPG1, ...args]);
    const err = r.err.trim();
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}, ${err}`);
    assert.equal(err.split("\n").length, 1, err);
    assert.match(err, pattern);
    assert.doesNotMatch(r.out, /adapter:/, "refused before matching");
  }
});

Deno.test("match with a fine-stage model: both orders, no coarse refinement, 1-px threshold; --refine ncc-affine refused", async () => {
  await withTempDir(async (dir) => {
    // The official outdoor checkpoint's architecture with seeded random weights, converted by
    // the convert task, when ../shared is there; else the same architecture's synthetic weights
    // (testing/synthetic_weights.ts) written here: plumbing, not accuracy.
    const weights = `${dir}/fine.safetensors`;
    const shared = sharedDir && `${sharedDir}weights/loftr_outdoor_random_seed0.ckpt`;
    if (shared) {
      const c = await runCli("src/cli/convert.ts", [shared, "--out", weights]);
      assert.equal(c.code, 0, c.err);
    } else {
      console.log("../shared absent: synthetic outdoor weights instead of its random checkpoint");
      const w = syntheticWeights("full");
      await Deno.writeFile(
        weights,
        writeSafetensors(w.tensors, "F32", { [CONFIG_KEY]: JSON.stringify(w.config) }),
      );
    }
    const args = [JPG0, JPG1, "--weights", weights, "--resize", "320"];
    const r = await match([...args, "--out", `${dir}/m.json`]);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(await Deno.readTextFile(`${dir}/m.json`));
    assert.equal(j.orders, "both");
    assert.equal(j.refinement, "none");
    if (j.geometry.F) assert.equal(j.geometry.ransacThreshold, 1);
    assert.equal(j.keypoints0.length, j.matches, "no refinement: every match is kept");
    const one = await match([...args, "--orders", "one", "--out", `${dir}/one.json`]);
    assert.equal(one.code, 0, one.err);
    const k = JSON.parse(await Deno.readTextFile(`${dir}/one.json`));
    assert.equal(k.orders, "one");
    // The first order of a both-orders run is the one-order run's matches.
    assert.deepEqual(j.keypoints0.slice(0, k.count), k.keypoints0);
    const bad = await match([...args, "--refine", "ncc-affine"]);
    assert.equal(bad.code, 2);
    assert.match(
      bad.err,
      /--refine ncc-affine is for coarse-only models; this model has a fine stage/,
    );
  });
});
