import assert from "node:assert/strict";
import {
  assignCameras,
  type ExportImage,
  writeColmapDatabase,
} from "../../src/pipeline/colmap_export.ts";
import { mergeKeypoints, type PairMatches } from "../../src/pipeline/tracks.ts";
import { ColmapDatabase } from "../../src/io/colmap_database.ts";
import { modelStats, readColmapModel } from "../../src/io/colmap_model.ts";
import { posesFromColmapModel } from "../../src/io/cameras_csv.ts";
import { scoreReconstruction } from "../../src/geometry/sfm_metric.ts";
import { seededRandom } from "../support/util.ts";
import { needsColmap, runColmap } from "../support/colmap.ts";
import { syntheticScene } from "../support/synthetic_scene.ts";

const photos: ExportImage[] = [
  { name: "a.jpg", width: 1200, height: 800, exifFocalPx: 1000 },
  { name: "b.jpg", width: 1200, height: 800 },
];

Deno.test("colmap export: cameras as COLMAP's ImageReader makes them", () => {
  const given = assignCameras(photos, {
    model: "PINHOLE",
    params: [1077, 1079, 594, 393],
    singleCamera: true,
  });
  assert.deepEqual(given.cameras, [{
    width: 1200,
    height: 800,
    model: "PINHOLE",
    params: [1077, 1079, 594, 393],
    priorFocalLength: true,
  }]);
  assert.deepEqual(given.cameraOfImage, [0, 0]);
  const each = assignCameras(photos, { model: "SIMPLE_RADIAL", params: null, singleCamera: false });
  // EXIF focal: a prior; none: COLMAP's guess 1.2 · 1200, not a prior
  assert.deepEqual(each.cameras.map((c) => [c.params, c.priorFocalLength]), [
    [[1000, 600, 400, 0], true],
    [[1440, 600, 400, 0], false],
  ]);
  assert.deepEqual(each.cameraOfImage, [0, 1]);
  // a single camera takes the first photo's
  const shared = assignCameras([photos[1], photos[0]], {
    model: "SIMPLE_PINHOLE",
    params: null,
    singleCamera: true,
  });
  assert.deepEqual(shared.cameras.map((c) => c.params), [[1440, 600, 400]]);
  assert.throws(
    () =>
      assignCameras([...photos, { name: "c.jpg", width: 800, height: 1200 }], {
        model: "PINHOLE",
        params: null,
        singleCamera: true,
      }),
    /c\.jpg: 800x1200, but a single camera needs every photo at 1200x800 \(a\.jpg\)/,
  );
  assert.throws(
    () => assignCameras(photos, { model: "PINHOLE", params: [1, 2, 3], singleCamera: true }),
    /PINHOLE: 3 given, expected 4 \(fx,fy,cx,cy\)/,
  );
});

Deno.test("colmap export: the database holds what was given; bad indices are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "colmap_export_test_" });
  try {
    const path = `${dir}/database.db`;
    const kp = [Float32Array.of(0, 0, 10, 10), Float32Array.of(5, 5)];
    const written = writeColmapDatabase(path, photos, kp, [
      {
        image0: 1,
        image1: 0,
        matches: Uint32Array.of(0, 1),
        inliers: Uint32Array.of(0, 1),
        E: [0, 0, 0, 0, 0, -1, 0, 1, 0],
      },
    ], {
      cameras: { model: "SIMPLE_RADIAL", params: null, singleCamera: true },
      convention: "engine",
    });
    assert.deepEqual(written, { imageIds: [1, 2], cameraIds: [1, 1], verifiedPairs: 1 });
    const db = ColmapDatabase.open(path, { readOnly: true });
    assert.deepEqual(Array.from(db.readKeypoints(2)!.data), [5.5, 5.5]);
    const g = db.readTwoViewGeometry(1, 2)!;
    assert.deepEqual(Array.from(g.inliers), [1, 0]);
    assert.equal(g.config, 2); // CALIBRATED, as E was given
    db.close();
    assert.throws(
      () =>
        writeColmapDatabase(path, photos, kp, [], {
          cameras: { model: "PINHOLE", params: null, singleCamera: true },
          convention: "engine",
        }),
      /already exists/,
    );
    assert.throws(
      () =>
        writeColmapDatabase(`${dir}/b.db`, photos, kp, [{
          image0: 0,
          image1: 1,
          matches: Uint32Array.of(2, 0),
        }], {
          cameras: { model: "PINHOLE", params: null, singleCamera: true },
          convention: "engine",
        }),
      /pair 0 \(a\.jpg, b\.jpg\): matches row 0 \(2, 0\) has no keypoint/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  needsColmap(
    "colmap export: per-pair matches → merged keypoints → database → colmap mapper → tracks and exact poses",
  ),
  async () => {
    const s = syntheticScene(5, 300, 5);
    const rnd = seededRandom(9);
    // every pair sees the common points with its own ±0.1 px of localisation noise
    const pairs: PairMatches[] = [];
    for (let a = 0; a < 5; a++) {
      for (let b = a + 1; b < 5; b++) {
        const k0: number[] = [], k1: number[] = [], sc: number[] = [];
        for (let i = 0; i < s.points.length; i++) {
          const pa = s.projections[a], pb = s.projections[b];
          if (Number.isNaN(pa[2 * i]) || Number.isNaN(pb[2 * i])) continue;
          k0.push(pa[2 * i] + 0.1 * rnd(), pa[2 * i + 1] + 0.1 * rnd());
          k1.push(pb[2 * i] + 0.1 * rnd(), pb[2 * i + 1] + 0.1 * rnd());
          sc.push(0.5 + 0.5 * rnd());
        }
        pairs.push({
          image0: a,
          image1: b,
          keypoints0: Float32Array.from(k0),
          keypoints1: Float32Array.from(k1),
          scores: sc,
        });
      }
    }
    const merged = mergeKeypoints(pairs, { cellSize: 2 });
    const dir = await Deno.makeTempDir({ prefix: "colmap_export_mapper_" });
    try {
      const images = s.names.map((name) => ({ name, width: s.width, height: s.height }));
      writeColmapDatabase(
        `${dir}/database.db`,
        images,
        merged.keypoints,
        pairs.map((p, i) => ({
          image0: p.image0,
          image1: p.image1,
          matches: merged.matches[i],
          inliers: merged.matches[i],
        })),
        {
          cameras: { model: "PINHOLE", params: s.colmapParams, singleCamera: true },
          convention: "engine",
        },
      );
      await Deno.mkdir(`${dir}/images`);
      await Deno.mkdir(`${dir}/sparse`);
      const args = ["--database_path", `${dir}/database.db`, "--image_path", `${dir}/images`];
      await runColmap([
        "mapper",
        ...args,
        "--output_path",
        `${dir}/sparse`,
        "--Mapper.num_threads",
        "2",
      ]);
      const model = await readColmapModel(`${dir}/sparse/0`);
      const stats = modelStats(model);
      assert.equal(stats.registeredImages, 5);
      // tracks through the merged keypoints: most points seen in (nearly) all 5 photos
      assert.ok(stats.meanTrackLength > 4, `mean track length ${stats.meanTrackLength}`);
      assert.ok(
        stats.meanReprojectionError < 0.2,
        `reprojection error ${stats.meanReprojectionError}`,
      );
      const score = scoreReconstruction(
        posesFromColmapModel(model),
        new Map(s.names.map((n, i) => [n, s.poses[i]])),
      );
      assert.ok(score.auc[0].value > 0.95, `AUC@1 ${score.auc[0].value}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
