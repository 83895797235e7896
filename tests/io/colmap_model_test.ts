import assert from "node:assert/strict";
import {
  type ColmapModel,
  encodePly,
  modelStats,
  parseColmapModelBinary,
  parseColmapModelText,
  readColmapModel,
  readLargestColmapModel,
  writePly,
} from "../../src/io/colmap_model.ts";
import {
  parseCamerasCsv,
  posesFromCamerasCsv,
  posesFromColmapModel,
} from "../../src/io/cameras_csv.ts";
import { fixture, needsShared, sharedDir } from "../support/util.ts";
import { needsColmap, runColmap } from "../support/colmap.ts";

const FIXTURE = fixture("colmap/fountain4_sift");

/** Asserts two models hold the same cameras, images and points, exactly. */
function assertSameModel(a: ColmapModel, b: ColmapModel) {
  assert.deepEqual([...a.cameras.keys()].sort(), [...b.cameras.keys()].sort());
  for (const [id, c] of a.cameras) assert.deepEqual(c, b.cameras.get(id));
  assert.deepEqual([...a.images.keys()].sort(), [...b.images.keys()].sort());
  for (const [id, im] of a.images) assert.deepEqual(im, b.images.get(id), `image ${id}`);
  assert.equal(a.points.size, b.points.size);
  for (const [id, p] of a.points) assert.deepEqual(p, b.points.get(id), `point ${id}`);
}

Deno.test("colmap model: the binary reader reads COLMAP's SIFT model as model_converter's text says", async () => {
  const bin = await readColmapModel(`${FIXTURE}/bin`);
  const txt = await readColmapModel(`${FIXTURE}/txt`);
  assert.equal(bin.format, "binary");
  assert.equal(txt.format, "text");
  assertSameModel(bin, txt);
  // figures of `colmap model_analyzer` on this model
  const s = modelStats(bin);
  assert.equal(s.cameras, 1);
  assert.equal(s.registeredImages, 4);
  assert.equal(s.points, 244);
  assert.equal(s.observations, 836);
  assert.equal(s.meanTrackLength.toFixed(6), "3.426230");
  assert.equal(s.meanObservationsPerImage.toFixed(6), "209.000000");
  assert.equal(s.meanReprojectionError.toFixed(6), "0.440768");
  // typed content
  const cam = bin.cameras.get(1)!;
  assert.equal(cam.model, "PINHOLE");
  assert.deepEqual([cam.width, cam.height], [1200, 800]);
  assert.deepEqual(Array.from(cam.params.subarray(2)), [594.01953125, 393.28515625]);
  assert.deepEqual([...bin.images.values()].map((i) => i.name).sort(), [
    "0003.jpg",
    "0004.jpg",
    "0005.jpg",
    "0006.jpg",
  ]);
  // every observation of a point refers back to it
  for (const p of bin.points.values()) {
    for (let k = 0; k < p.trackImageIds.length; k++) {
      assert.equal(
        bin.images.get(p.trackImageIds[k])!.point3DIds[p.trackPoint2DIdxs[k]],
        p.pointId,
      );
    }
  }
  const im = bin.images.get(1)!;
  assert.ok(im.point3DIds.includes(-1));
  assert.equal(im.xys.length, 2 * im.point3DIds.length);
  assert.ok(Math.abs(Math.hypot(...im.qvec) - 1) < 1e-12);
});

Deno.test(
  needsColmap("colmap model: binary reader = `colmap model_converter --output_type TXT` now"),
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "colmap_model_test_" });
    try {
      await runColmap([
        "model_converter",
        "--input_path",
        `${FIXTURE}/bin`,
        "--output_path",
        dir,
        "--output_type",
        "TXT",
      ]);
      assertSameModel(await readColmapModel(`${FIXTURE}/bin`), await readColmapModel(dir));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("colmap model: truncated or padded binary files are refused, naming the file", async () => {
  const files = {
    cameras: await Deno.readFile(`${FIXTURE}/bin/cameras.bin`),
    images: await Deno.readFile(`${FIXTURE}/bin/images.bin`),
    points3D: await Deno.readFile(`${FIXTURE}/bin/points3D.bin`),
  };
  assert.throws(
    () => parseColmapModelBinary({ ...files, images: files.images.subarray(0, 1000) }),
    /images\.bin: 2D point count 759 does not fit in the file/,
  );
  const padded = new Uint8Array(files.points3D.length + 3);
  padded.set(files.points3D);
  assert.throws(
    () => parseColmapModelBinary({ ...files, points3D: padded }),
    /points3D\.bin: 3 bytes left/,
  );
  const badCount = files.cameras.slice();
  badCount[0] = 200;
  assert.throws(
    () => parseColmapModelBinary({ ...files, cameras: badCount }),
    /cameras\.bin: camera count 200/,
  );
  const badModel = files.cameras.slice();
  badModel[12] = 99; // model id of camera 1
  assert.throws(
    () => parseColmapModelBinary({ ...files, cameras: badModel }),
    /unknown camera model id 99/,
  );
});

Deno.test("colmap model: text parsing — empty 2D lines, names with spaces, errors with line numbers", () => {
  const m = parseColmapModelText({
    cameras: "# c\n\n2 SIMPLE_RADIAL 640 480 500 320 240 0.01\n",
    images: "# header\n" +
      "5 1 0 0 0 1 2 3 2 my photo.jpg\n" +
      "\n" +
      "6 0 1 0 0 0 0 0 2 b.jpg\n" +
      "10.5 20.5 -1 30 40 7\n",
    points3D: "7 1 2 3 255 0 10 0.5 6 1\n",
  });
  assert.deepEqual([...m.images.keys()], [5, 6]);
  assert.equal(m.images.get(5)!.name, "my photo.jpg");
  assert.equal(m.images.get(5)!.xys.length, 0);
  assert.deepEqual(Array.from(m.images.get(6)!.point3DIds), [-1, 7]);
  assert.deepEqual(m.cameras.get(2)!.model, "SIMPLE_RADIAL");
  const p = m.points.get(7)!;
  assert.deepEqual([p.xyz, p.rgb, p.error], [[1, 2, 3], [255, 0, 10], 0.5]);
  assert.deepEqual([Array.from(p.trackImageIds), Array.from(p.trackPoint2DIdxs)], [[6], [1]]);
  assert.throws(
    () => parseColmapModelText({ cameras: "1 PINHOLE 10 10 1 2 3\n", images: "", points3D: "" }),
    /cameras\.txt:1: 3 parameters for PINHOLE, expected 4/,
  );
  assert.throws(
    () =>
      parseColmapModelText({ cameras: "", images: "1 1 0 0 0 0 0 x 1 a.jpg\n\n", points3D: "" }),
    /images\.txt:1: "x" is not a number/,
  );
  assert.throws(
    () =>
      parseColmapModelText({ cameras: "", images: "1 1 0 0 0 0 0 0 1 a.jpg\n1 2\n", points3D: "" }),
    /images\.txt:2: 2 numbers/,
  );
});

Deno.test(needsShared("colmap model: sfm_dev's text gt_model equals its cameras.csv"), async () => {
  for (const scene of ["fountain", "herzjesu"]) {
    const dir = `${sharedDir}data/sfm_dev/${scene}`;
    const model = await readColmapModel(`${dir}/gt_model`);
    assert.equal(model.format, "text");
    assert.equal(model.points.size, 0);
    const csv = parseCamerasCsv(await Deno.readTextFile(`${dir}/cameras.csv`));
    assert.equal(model.images.size, csv.length);
    const a = posesFromColmapModel(model), b = posesFromCamerasCsv(csv);
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [name, p] of a) {
      assert.deepEqual(Array.from(p.R), Array.from(b.get(name)!.R), name);
      assert.deepEqual(Array.from(p.t), Array.from(b.get(name)!.t), name);
    }
    const cam = model.cameras.get(1)!;
    assert.deepEqual(Array.from(cam.params), [csv[0].fx, csv[0].fy, csv[0].cx, csv[0].cy]);
  }
});

Deno.test("colmap model: the largest sub-model of a mapper output folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "colmap_sub_test_" });
  try {
    await Deno.mkdir(`${dir}/0`);
    await Deno.mkdir(`${dir}/1`);
    await Deno.writeTextFile(`${dir}/0/cameras.txt`, "1 SIMPLE_PINHOLE 10 10 5 5 5\n");
    await Deno.writeTextFile(`${dir}/0/images.txt`, "1 1 0 0 0 0 0 0 1 a.jpg\n\n");
    await Deno.writeTextFile(`${dir}/0/points3D.txt`, "");
    for (const f of ["cameras.bin", "images.bin", "points3D.bin"]) {
      await Deno.copyFile(`${FIXTURE}/bin/${f}`, `${dir}/1/${f}`);
    }
    const r = await readLargestColmapModel(dir);
    assert.equal(r.dir, `${dir}/1`);
    assert.equal(r.subModels, 2);
    assert.equal(r.model.images.size, 4);
    assert.equal((await readLargestColmapModel(`${dir}/0/`)).model.images.size, 1);
    await assert.rejects(readColmapModel(`${dir}/2`), /no COLMAP model/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("colmap model: binary PLY of the points (x, y, z float; r, g, b uchar)", async () => {
  const model = await readColmapModel(`${FIXTURE}/bin`);
  const ply = encodePly(model.points.values());
  const text = new TextDecoder().decode(ply.subarray(0, 400));
  const headerEnd = text.indexOf("end_header\n") + "end_header\n".length;
  assert.match(text, /^ply\nformat binary_little_endian 1\.0\n/);
  assert.match(text, /element vertex 244\n/);
  assert.equal(ply.length, headerEnd + 244 * 15);
  const first = [...model.points.values()].sort((a, b) => a.pointId - b.pointId)[0];
  const view = new DataView(ply.buffer, headerEnd);
  assert.equal(view.getFloat32(0, true), Math.fround(first.xyz[0]));
  assert.equal(view.getFloat32(8, true), Math.fround(first.xyz[2]));
  assert.deepEqual(Array.from(ply.subarray(headerEnd + 12, headerEnd + 15)), first.rgb);
  const dir = await Deno.makeTempDir();
  try {
    await writePly(`${dir}/points.ply`, model.points.values());
    assert.deepEqual(await Deno.readFile(`${dir}/points.ply`), ply);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
