import assert from "node:assert/strict";
import {
  COLMAP_SCHEMA_VERSION,
  ColmapDatabase,
  fundamentalToColmapPixels,
  homographyToColmapPixels,
  imagesOfPairId,
  pairId,
  TwoViewConfig,
} from "../../src/io/colmap_database.ts";
import { defaultCameraParams, parseCameraParams } from "../../src/io/colmap_cameras.ts";
import { fixture } from "../support/util.ts";
import { needsColmap, runColmap } from "../support/colmap.ts";
import { syntheticScene } from "../support/synthetic_scene.ts";
import { readColmapModel } from "../../src/io/colmap_model.ts";
import { posesFromColmapModel } from "../../src/io/cameras_csv.ts";
import { scoreReconstruction } from "../../src/geometry/sfm_metric.ts";

interface MasterRow {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

/** sqlite_master rows with whitespace normalised (COLMAP pads its CREATE statements). */
function schemaOf(db: ColmapDatabase): { rows: MasterRow[]; version: number } {
  const norm = (s: string | null) =>
    s === null ? null : s.replace(/\s+/g, " ").replace(/\s*([(),])\s*/g, "$1").trim();
  const rows = db.sqlite.prepare(
    "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid",
  )
    .all().map((r) => ({
      type: String(r.type),
      name: String(r.name),
      tbl_name: String(r.tbl_name),
      sql: norm(r.sql as string | null),
    }));
  const version = Number(db.sqlite.prepare("PRAGMA user_version").get()!.user_version);
  return { rows, version };
}

async function tempDb(): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "colmap_db_test_" });
  return { dir, path: `${dir}/database.db` };
}

Deno.test("colmap database: the schema of COLMAP 3.8's database_creator (recorded)", async () => {
  const { dir, path } = await tempDb();
  try {
    const db = ColmapDatabase.create(path);
    const ours = schemaOf(db);
    db.close();
    const recorded = JSON.parse(
      await Deno.readTextFile(fixture("colmap/database_creator_3.8_schema.json")),
    );
    const norm = (s: string | null) =>
      s === null ? null : s.replace(/\s+/g, " ").replace(/\s*([(),])\s*/g, "$1").trim();
    assert.deepEqual(
      ours.rows,
      (recorded.sqlite_master as MasterRow[]).map((r) => ({ ...r, sql: norm(r.sql) })),
    );
    assert.equal(ours.version, recorded.user_version);
    assert.equal(ours.version, COLMAP_SCHEMA_VERSION);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  needsColmap("colmap database: the same schema as a fresh `colmap database_creator`"),
  async () => {
    const { dir, path } = await tempDb();
    try {
      await runColmap(["database_creator", "--database_path", `${dir}/theirs.db`]);
      const theirs = ColmapDatabase.open(`${dir}/theirs.db`, { readOnly: true });
      const ours = ColmapDatabase.create(path);
      assert.deepEqual(schemaOf(ours), schemaOf(theirs));
      ours.close();
      theirs.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("colmap database: pair ids as COLMAP computes them, bigint beyond 2^53", () => {
  assert.equal(pairId(1, 2), 2147483649n);
  assert.equal(pairId(2, 1), 2147483649n);
  assert.deepEqual(imagesOfPairId(2147483649n), [1, 2]);
  const big = pairId(5_000_000, 2147483646);
  assert.equal(big, 5_000_000n * 2147483647n + 2147483646n);
  assert.ok(big > BigInt(Number.MAX_SAFE_INTEGER));
  assert.deepEqual(imagesOfPairId(big), [5_000_000, 2147483646]);
  assert.throws(() => pairId(3, 3), /itself/);
  assert.throws(() => pairId(0, 3), /invalid image id 0/);
});

Deno.test("colmap database: refuses an existing file, naming it; replaces it when asked", async () => {
  const { dir, path } = await tempDb();
  try {
    await Deno.writeTextFile(path, "something else");
    assert.throws(() => ColmapDatabase.create(path), (e: Error) => {
      assert.ok(e.message.startsWith(`${path}: `), e.message);
      assert.match(e.message, /already exists/);
      return true;
    });
    assert.equal(await Deno.readTextFile(path), "something else");
    const db = ColmapDatabase.create(path, { ifExists: "replace" });
    assert.equal(db.readImages().length, 0);
    db.close();
    assert.throws(() => ColmapDatabase.open(`${dir}/missing.db`), /missing\.db: no such database/);
    assert.throws(
      () => ColmapDatabase.create(`${dir}/no/such/folder/database.db`),
      /folder\/database\.db: cannot create the database/,
    );
    await Deno.writeTextFile(`${dir}/text.db`, "");
    assert.throws(
      () => ColmapDatabase.open(`${dir}/text.db`),
      /text\.db: not a COLMAP database \(no table cameras\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("colmap database: cameras, images and keypoints with the explicit 0.5 px shift", async () => {
  const { dir, path } = await tempDb();
  try {
    const db = ColmapDatabase.create(path);
    const c1 = db.addCamera({
      model: "PINHOLE",
      width: 1200,
      height: 800,
      params: parseCameraParams("PINHOLE", "1077.921875,1079.75,594.01953125,393.28515625"),
      priorFocalLength: true,
    });
    const c2 = db.addCamera({
      model: "SIMPLE_RADIAL",
      width: 640,
      height: 480,
      params: defaultCameraParams("SIMPLE_RADIAL", 640, 480),
      priorFocalLength: false,
    });
    assert.deepEqual([c1, c2], [1, 2]);
    assert.throws(
      () =>
        db.addCamera({
          model: "PINHOLE",
          width: 10,
          height: 10,
          params: [1, 2, 3],
          priorFocalLength: false,
        }),
      /3 parameters, expected 4 \(fx, fy, cx, cy\)/,
    );
    const a = db.addImage("a.jpg", c1), b = db.addImage("b.jpg", c2);
    assert.deepEqual([a, b], [1, 2]);
    assert.throws(() => db.addImage("a.jpg", c1), /image "a.jpg" is already there/);
    assert.throws(() => db.addImage("c.jpg", 9), /no camera 9/);
    db.addKeypoints(a, [0, 0, 10.25, 3, 1199, 799], "engine");
    db.addKeypoints(b, Float32Array.of(0.5, 0.5), "colmap");
    assert.throws(() => db.addKeypoints(7, [1, 2], "engine"), /image 7: no such image/);

    const cams = db.readCameras();
    assert.equal(cams[0].model, "PINHOLE");
    assert.deepEqual(Array.from(cams[0].params), [
      1077.921875,
      1079.75,
      594.01953125,
      393.28515625,
    ]);
    assert.equal(cams[0].priorFocalLength, true);
    assert.equal(cams[1].model, "SIMPLE_RADIAL");
    assert.deepEqual(Array.from(cams[1].params), [768, 320, 240, 0]);
    assert.equal(cams[1].priorFocalLength, false);
    assert.deepEqual(db.readImages(), [
      { imageId: 1, name: "a.jpg", cameraId: 1 },
      { imageId: 2, name: "b.jpg", cameraId: 2 },
    ]);
    const k = db.readKeypoints(a)!;
    assert.equal(k.rows, 3);
    assert.equal(k.cols, 2);
    assert.deepEqual(Array.from(k.data), [0.5, 0.5, 10.75, 3.5, 1199.5, 799.5]);
    assert.deepEqual(Array.from(db.readKeypoints(b)!.data), [0.5, 0.5]);
    assert.equal(db.readKeypoints(99), null);
    db.close();
    // the raw bytes: model id 1, float64 params, float32 keypoints
    const raw = ColmapDatabase.open(path, { readOnly: true });
    const row = raw.sqlite.prepare("SELECT model, params FROM cameras WHERE camera_id = 1").get()!;
    assert.equal(row.model, 1);
    assert.equal((row.params as Uint8Array).byteLength, 32);
    raw.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A fundamental matrix of two synthetic cameras, for engine-convention pixels. */
function syntheticF(): { F: Float64Array; x0: number[][]; x1: number[][] } {
  const s = syntheticScene(2, 30, 7);
  // F from point correspondences is overkill: build it from the poses.
  const K = (shift: number) => [
    [s.colmapParams[0], 0, s.colmapParams[2] - shift],
    [0, s.colmapParams[1], s.colmapParams[3] - shift],
    [0, 0, 1],
  ];
  const [p0, p1] = s.poses;
  // R = R1 R0ᵀ, t = t1 − R t0; E = [t]x R; F = K⁻ᵀ E K⁻¹ (engine K: cx − 0.5)
  const m = (a: number[][], b: number[][]) =>
    a.map((r) => b[0].map((_, j) => r.reduce((acc, v, k) => acc + v * b[k][j], 0)));
  const T = (a: number[][]) => a[0].map((_, j) => a.map((r) => r[j]));
  const R0 = [0, 1, 2].map((r) => [0, 1, 2].map((c) => p0.R[3 * r + c]));
  const R1 = [0, 1, 2].map((r) => [0, 1, 2].map((c) => p1.R[3 * r + c]));
  const R = m(R1, T(R0));
  const Rt0 = [0, 1, 2].map((r) => R[r].reduce((acc, v, k) => acc + v * p0.t[k], 0));
  const t = [0, 1, 2].map((r) => p1.t[r] - Rt0[r]);
  const tx = [[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]];
  const E = m(tx, R);
  const Ke = K(0.5);
  const Kinv = [[1 / Ke[0][0], 0, -Ke[0][2] / Ke[0][0]], [0, 1 / Ke[1][1], -Ke[1][2] / Ke[1][1]], [
    0,
    0,
    1,
  ]];
  const F = Float64Array.from(m(m(T(Kinv), E), Kinv).flat());
  const x0: number[][] = [], x1: number[][] = [];
  for (let i = 0; i < 30; i++) {
    if (Number.isNaN(s.projections[0][2 * i]) || Number.isNaN(s.projections[1][2 * i])) continue;
    x0.push([s.projections[0][2 * i], s.projections[0][2 * i + 1], 1]);
    x1.push([s.projections[1][2 * i], s.projections[1][2 * i + 1], 1]);
  }
  return { F, x0, x1 };
}

function epipolar(F: ArrayLike<number>, a: number[], b: number[]): number {
  // bᵀ F a, divided by the norm of F a's line
  const l = [0, 1, 2].map((r) => F[3 * r] * a[0] + F[3 * r + 1] * a[1] + F[3 * r + 2] * a[2]);
  return (b[0] * l[0] + b[1] * l[1] + b[2] * l[2]) / Math.hypot(l[0], l[1]);
}

Deno.test("colmap database: F and H converted to COLMAP's pixels", () => {
  const { F, x0, x1 } = syntheticF();
  const shifted = (x: number[]) => [x[0] + 0.5, x[1] + 0.5, 1];
  const Fc = fundamentalToColmapPixels(F);
  for (let i = 0; i < x0.length; i++) {
    assert.ok(Math.abs(epipolar(F, x0[i], x1[i])) < 1e-9);
    assert.ok(Math.abs(epipolar(Fc, shifted(x0[i]), shifted(x1[i]))) < 1e-9);
    // and the unconverted F is off by a fraction of a pixel for COLMAP's points
  }
  assert.ok(x0.some((_, i) => Math.abs(epipolar(F, shifted(x0[i]), shifted(x1[i]))) > 1e-3));
  // H: a map x1 = H x0 in engine pixels becomes x1' = H' x0' in COLMAP's
  const H = Float64Array.of(1.1, 0.02, 5, -0.01, 0.95, -3, 1e-4, 2e-4, 1);
  const Hc = homographyToColmapPixels(H);
  const apply = (M: ArrayLike<number>, x: number[]) => {
    const w = M[6] * x[0] + M[7] * x[1] + M[8];
    return [(M[0] * x[0] + M[1] * x[1] + M[2]) / w, (M[3] * x[0] + M[4] * x[1] + M[5]) / w];
  };
  for (const x of [[0, 0], [100, 50], [639, 479]]) {
    const y = apply(H, x), yc = apply(Hc, [x[0] + 0.5, x[1] + 0.5]);
    assert.ok(Math.abs(yc[0] - (y[0] + 0.5)) < 1e-9 && Math.abs(yc[1] - (y[1] + 0.5)) < 1e-9);
  }
});

Deno.test("colmap database: a pair given as (larger id, smaller id) is stored swapped, F transposed", async () => {
  const { dir, path } = await tempDb();
  try {
    const { F, x0, x1 } = syntheticF();
    const db = ColmapDatabase.create(path);
    const cam = db.addCamera({
      model: "PINHOLE",
      width: 640,
      height: 480,
      params: [500, 500, 320, 240],
      priorFocalLength: true,
    });
    const a = db.addImage("a.png", cam), b = db.addImage("b.png", cam);
    // image b's keypoints are x0 (first of the call), image a's are x1
    db.addKeypoints(b, x0.flatMap((x) => [x[0], x[1]]), "engine");
    db.addKeypoints(a, x1.flatMap((x) => [x[0], x[1]]), "engine");
    const inliers = Uint32Array.from(x0.flatMap((_, i) => [i, i]));
    inliers[0] = 1; // a deliberately asymmetric row, to see the columns swap
    const E = Float64Array.of(0, -1, 0, 1, 0, 0, 0, 0, 0);
    db.addTwoViewGeometry(b, a, {
      inliers,
      config: TwoViewConfig.UNCALIBRATED,
      F,
      E,
      convention: "engine",
    });
    db.addMatches(b, a, inliers);
    // raw row: pair (a, b), columns (kp in a, kp in b), F for x_bᵀ F x_a = 0 ... i.e. transposed
    const row = db.sqlite.prepare(
      "SELECT pair_id, rows, cols, data, config, F, E, H FROM two_view_geometries",
    )
      .get()!;
    assert.equal(BigInt(row.pair_id as number), pairId(a, b));
    assert.equal(row.rows, x0.length);
    assert.equal(row.cols, 2);
    assert.equal(row.config, TwoViewConfig.UNCALIBRATED);
    assert.equal(row.H, null);
    const stored = new Uint32Array((row.data as Uint8Array).slice().buffer);
    assert.deepEqual([stored[0], stored[1]], [0, 1]);
    const Fs = new Float64Array((row.F as Uint8Array).slice().buffer);
    const ka = db.readKeypoints(a)!.data, kb = db.readKeypoints(b)!.data;
    for (let r = 1; r < stored.length / 2; r++) {
      const pa = [ka[2 * stored[2 * r]], ka[2 * stored[2 * r] + 1], 1];
      const pb = [kb[2 * stored[2 * r + 1]], kb[2 * stored[2 * r + 1] + 1], 1];
      // COLMAP: x2ᵀ F x1 = 0 with image id1 = a as 1 (float32 keypoints: 1e-3 px)
      assert.ok(Math.abs(epipolar(Fs, pa, pb)) < 1e-3, `row ${r}`);
    }
    assert.deepEqual(Array.from(new Float64Array((row.E as Uint8Array).slice().buffer)), [
      0,
      1,
      0,
      -1,
      0,
      0,
      0,
      0,
      0,
    ]);
    // read back in either orientation
    const g = db.readTwoViewGeometry(b, a)!;
    assert.deepEqual(g.inliers, inliers);
    assert.deepEqual(Array.from(g.E!), Array.from(E));
    const Fc = fundamentalToColmapPixels(F);
    g.F!.forEach((v, i) => assert.ok(Math.abs(v - Fc[i]) <= 1e-12 * Math.abs(Fc[i]) + 1e-18));
    assert.deepEqual(db.readTwoViewGeometry(a, b)!.inliers, stored);
    assert.deepEqual(db.readMatches(b, a), inliers);
    assert.deepEqual(db.readMatches(a, b), stored);
    assert.deepEqual(db.twoViewGeometryPairs(), [[a, b]]);
    assert.throws(
      () =>
        db.addTwoViewGeometry(a, b, {
          inliers: Uint32Array.of(1),
          config: 3,
          convention: "engine",
        }),
      /odd length/,
    );
    db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("colmap database: relative pose inverted when the pair is swapped", async () => {
  const { dir, path } = await tempDb();
  try {
    const db = ColmapDatabase.create(path);
    const cam = db.addCamera({
      model: "SIMPLE_PINHOLE",
      width: 10,
      height: 10,
      params: [10, 5, 5],
      priorFocalLength: false,
    });
    const a = db.addImage("a", cam), b = db.addImage("b", cam);
    const h = Math.SQRT1_2; // 90° about z
    db.addTwoViewGeometry(b, a, {
      inliers: new Uint32Array(0),
      config: TwoViewConfig.CALIBRATED,
      qvec: [h, 0, 0, h],
      tvec: [1, 2, 3],
      convention: "colmap",
    });
    const g = db.readTwoViewGeometry(a, b)!;
    // inverse: q̄, −Rᵀ t with R = rot_z(90°): Rᵀ (1, 2, 3) = (2, −1, 3)
    assert.deepEqual(Array.from(g.qvec!), [h, -0, -0, -h]);
    const t = Array.from(g.tvec!);
    [-2, 1, -3].forEach((v, i) => assert.ok(Math.abs(t[i] - v) < 1e-12));
    const back = db.readTwoViewGeometry(b, a)!;
    [1, 2, 3].forEach((v, i) => assert.ok(Math.abs(back.tvec![i] - v) < 1e-12));
    db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  needsColmap(
    "colmap database: COLMAP's mapper reconstructs a synthetic scene from our database exactly",
  ),
  async () => {
    const { dir, path } = await tempDb();
    try {
      const s = syntheticScene(5, 300);
      const db = ColmapDatabase.create(path);
      const cam = db.addCamera({
        model: "PINHOLE",
        width: s.width,
        height: s.height,
        params: s.colmapParams,
        priorFocalLength: true,
      });
      db.transaction(() => {
        const ids = s.names.map((n) => db.addImage(n, cam));
        const index: Int32Array[] = s.projections.map((p, c) => {
          const xy: number[] = [], map = new Int32Array(s.points.length).fill(-1);
          for (let i = 0; i < s.points.length; i++) {
            if (Number.isNaN(p[2 * i])) continue;
            map[i] = xy.length / 2;
            xy.push(p[2 * i], p[2 * i + 1]);
          }
          db.addKeypoints(ids[c], xy, "engine");
          return map;
        });
        for (let a = 0; a < ids.length; a++) {
          for (let b = a + 1; b < ids.length; b++) {
            const m: number[] = [];
            for (let i = 0; i < s.points.length; i++) {
              if (index[a][i] >= 0 && index[b][i] >= 0) m.push(index[b][i], index[a][i]);
            }
            // every other pair in the reverse order, to exercise the swap
            const [first, second] = (a + b) % 2 ? [b, a] : [a, b];
            const inliers = first === b
              ? Uint32Array.from(m)
              : Uint32Array.from(m.map((_, k) => m[k ^ 1]));
            db.addTwoViewGeometry(ids[first], ids[second], {
              inliers,
              config: TwoViewConfig.UNCALIBRATED,
              convention: "engine",
            });
          }
        }
      });
      db.close();
      await Deno.mkdir(`${dir}/images`);
      await Deno.mkdir(`${dir}/sparse`);
      await runColmap([
        "mapper",
        "--database_path",
        path,
        "--image_path",
        `${dir}/images`,
        "--output_path",
        `${dir}/sparse`,
        "--Mapper.num_threads",
        "2",
      ]);
      const model = await readColmapModel(`${dir}/sparse/0`);
      assert.equal(model.images.size, 5);
      const score = scoreReconstruction(
        posesFromColmapModel(model),
        new Map(s.names.map((n, i) => [n, s.poses[i]])),
      );
      // exact data, exact 0.5 px shift: errors ~1e-6°; without the shift they are ~0.02°
      assert.ok(score.medianRotation < 1e-3, `median rotation error ${score.medianRotation}°`);
      assert.ok(
        score.aligned!.maxRotation < 1e-3,
        `max camera rotation error ${score.aligned!.maxRotation}°`,
      );
      assert.ok(score.auc[0].value > 0.999);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
