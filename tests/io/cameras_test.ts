import assert from "node:assert/strict";
import {
  CAMERA_MODELS,
  cameraModel,
  cameraModelById,
  defaultCameraParams,
  parseCameraParams,
} from "../../src/io/colmap_cameras.ts";
import {
  intrinsicsMatrix,
  parseCamerasCsv,
  posesFromCamerasCsv,
} from "../../src/io/cameras_csv.ts";
import { rotationFromQuaternion } from "../../src/geometry/quaternion.ts";

Deno.test("colmap cameras: ids and parameter counts of COLMAP 3.8's models", () => {
  const table = CAMERA_MODELS.map((m) => [m.name, m.id, m.params.length]);
  assert.deepEqual(table, [
    ["SIMPLE_PINHOLE", 0, 3],
    ["PINHOLE", 1, 4],
    ["SIMPLE_RADIAL", 2, 4],
    ["RADIAL", 3, 5],
    ["OPENCV", 4, 8],
    ["OPENCV_FISHEYE", 5, 8],
    ["FULL_OPENCV", 6, 12],
    ["FOV", 7, 5],
    ["SIMPLE_RADIAL_FISHEYE", 8, 4],
    ["RADIAL_FISHEYE", 9, 5],
    ["THIN_PRISM_FISHEYE", 10, 12],
  ]);
  assert.equal(cameraModelById(4).name, "OPENCV");
  assert.throws(
    () => cameraModel("pinhole"),
    /unknown camera model "pinhole" \(known: SIMPLE_PINHOLE, PINHOLE/,
  );
  assert.throws(() => cameraModelById(11), /unknown camera model id 11/);
});

Deno.test("colmap cameras: COLMAP's default guess and the camera_params spelling", () => {
  // no EXIF: f = 1.2 · max(w, h), principal point at the centre (COLMAP's convention)
  assert.deepEqual(defaultCameraParams("PINHOLE", 1200, 800), [1440, 1440, 600, 400]);
  assert.deepEqual(defaultCameraParams("SIMPLE_RADIAL", 1200, 800), [1440, 600, 400, 0]);
  assert.deepEqual(defaultCameraParams("RADIAL", 640, 480, 500), [500, 320, 240, 0, 0]);
  assert.deepEqual(defaultCameraParams("OPENCV", 10, 20, 7), [7, 7, 5, 10, 0, 0, 0, 0]);
  assert.deepEqual(defaultCameraParams("FOV", 10, 20, 7), [7, 7, 5, 10, 0.01]);
  assert.deepEqual(
    parseCameraParams("PINHOLE", "1077.921875,1079.75, 594.01953125 ,393.28515625"),
    [1077.921875, 1079.75, 594.01953125, 393.28515625],
  );
  assert.throws(
    () => parseCameraParams("PINHOLE", "1077,1079,594"),
    /for PINHOLE: 3 values given; expected 4 comma-separated numbers fx,fy,cx,cy/,
  );
  assert.throws(() => parseCameraParams("SIMPLE_PINHOLE", "1,x,3"), /"x" is not a number/);
  assert.throws(() => parseCameraParams("SIMPLE_PINHOLE", "1,,3"), /"" is not a number/);
});

const CSV = "image,width,height,fx,fy,cx,cy,qw,qx,qy,qz,tx,ty,tz\n" +
  "0000.jpg,1200,800,1077.921875,1079.75,594.01953125,393.28515625,0.5,0.5,0.5,0.5,1,2,3\n" +
  "0001.jpg,1200,800,1000,1000,600,400,1,0,0,0,0,0,0\n";

Deno.test("cameras.csv: rows, intrinsics in COLMAP's convention, poses", () => {
  const cams = parseCamerasCsv(CSV);
  assert.equal(cams.length, 2);
  assert.deepEqual(cams[0], {
    image: "0000.jpg",
    width: 1200,
    height: 800,
    fx: 1077.921875,
    fy: 1079.75,
    cx: 594.01953125,
    cy: 393.28515625,
    q: [0.5, 0.5, 0.5, 0.5],
    t: [1, 2, 3],
  });
  assert.deepEqual(Array.from(intrinsicsMatrix(cams[1], "colmap")), [
    1000,
    0,
    600,
    0,
    1000,
    400,
    0,
    0,
    1,
  ]);
  assert.deepEqual(Array.from(intrinsicsMatrix(cams[1], "engine")), [
    1000,
    0,
    599.5,
    0,
    1000,
    399.5,
    0,
    0,
    1,
  ]);
  const poses = posesFromCamerasCsv(cams);
  assert.deepEqual([...poses.keys()], ["0000.jpg", "0001.jpg"]);
  // q = (½, ½, ½, ½): the cyclic permutation x→y→z→x
  assert.deepEqual(Array.from(poses.get("0000.jpg")!.R), [0, 0, 1, 1, 0, 0, 0, 1, 0]);
  assert.deepEqual(Array.from(rotationFromQuaternion([2, 0, 0, 0])), [1, 0, 0, 0, 1, 0, 0, 0, 1]);
});

Deno.test("cameras.csv: errors name the file and line", () => {
  assert.throws(
    () => parseCamerasCsv("image,width\n", "x.csv"),
    /x\.csv:1: missing column\(s\) height, fx/,
  );
  assert.throws(
    () => parseCamerasCsv(CSV.replace("1079.75", "abc"), "gt.csv"),
    /gt\.csv:2: fy "abc" is not a number/,
  );
  assert.throws(
    () => parseCamerasCsv(CSV + "0001.jpg,1,1,1,1,1,1,1,0,0,0,0,0,0\n"),
    /:4: image 0001\.jpg listed twice/,
  );
  assert.throws(() => parseCamerasCsv(CSV + "0002.jpg,1,1\n"), /:4: 3 fields, expected 14/);
});
