import assert from "node:assert/strict";
import { pngDecoder, pngEncoder } from "../../src/io/codecs.ts";
import { grayFromArray, type GrayImage, ImageError } from "../../src/io/image.ts";
import { viridis } from "../../src/io/draw.ts";
import { drawMatches } from "../../src/io/viz.ts";
import { fixture, needsShared, sharedDir } from "../support/util.ts";
import { decodeImage, loadImage } from "../../src/io/decode.ts";
import { DEFAULT_RESIZE_POLICY, inputSize, resizeArea } from "../../src/io/resize.ts";

// imagescript's PNG codecs (its main entry would need --allow-ffi).
const png = {
  encode: (data: Uint8Array, width: number, height: number, channels: number): Uint8Array =>
    pngEncoder.encode(data, { width, height, channels, level: 1 }),
  /** RGBA pixels of a PNG. */
  decode: async (
    bytes: Uint8Array,
  ): Promise<{ width: number; height: number; rgba: Uint8Array }> => {
    const { width, height, framebuffer } = (await pngDecoder.init()).decode(bytes);
    return { width, height, rgba: framebuffer };
  },
};

/** 8-bit levels of a {@link GrayImage}. */
function levels(img: GrayImage): number[] {
  return Array.from(img.data, (v) => Math.round(v * 255));
}

/** Mean and max absolute difference in 8-bit levels. */
function levelDiff(a: GrayImage, b: GrayImage): { mean: number; max: number } {
  assert.deepEqual([a.width, a.height], [b.width, b.height]);
  const la = levels(a), lb = levels(b);
  let sum = 0, max = 0;
  for (let i = 0; i < la.length; i++) {
    const d = Math.abs(la[i] - lb[i]);
    sum += d;
    max = Math.max(max, d);
  }
  return { mean: sum / la.length, max };
}

/** Resizes an 8-bit array and returns the 8-bit result. */
function resize8(src: number[], sw: number, sh: number, dw: number, dh: number): number[] {
  return levels(resizeArea(grayFromArray(new Uint8Array(src), sw, sh, "t"), dw, dh));
}

// The resize is bit-exact with OpenCV (see the resizeArea tests), so what remains is
// the JPEG decoder: libjpeg decodes luma directly, imagescript decodes RGB (its own
// IDCT and chroma upsampling, then clipping to [0, 255]) from which luma is recovered.
// Measured at 640x480: fountain_0001 mean 0.0024 max 2, fountain_0000 mean 0.0021
// max 1; over all 32 Strecha images mean <= 0.015 max 3, over the 14 ScanNet ones
// mean <= 0.018 max 4. The bounds leave about 2x headroom on the mean.
Deno.test("fixture JPEGs → gray → INTER_AREA 640x480 match the reference PNGs", async () => {
  for (const stem of ["fountain_0001", "fountain_0000"]) {
    const img = await loadImage(fixture(`images/${stem}.jpg`));
    assert.deepEqual([img.width, img.height], [1200, 800]);
    const ref = await loadImage(fixture(`images/${stem}.png`));
    const { mean, max } = levelDiff(resizeArea(img, 640, 480), ref);
    assert.ok(mean < 0.01, `${stem}: mean ${mean}`);
    assert.ok(max <= 3, `${stem}: max ${max}`);
  }
});

Deno.test({
  ...needsShared("all relpose_dev images → 640x480 match dev_inputs"),
  async fn() {
    const images = `${sharedDir}data/relpose_dev/images`;
    const refs = `${sharedDir}reference/tiny_real/dev_inputs`;
    const names = [...Deno.readDirSync(images)].map((e) => e.name).filter((n) =>
      n.endsWith(".jpg")
    );
    assert.equal(names.length, 46);
    let total = 0;
    for (const name of names) {
      const img = resizeArea(await loadImage(`${images}/${name}`), 640, 480);
      const ref = await loadImage(`${refs}/${name.replace(/\.jpg$/, ".png")}`);
      const { mean, max } = levelDiff(img, ref);
      assert.ok(mean < 0.03 && max <= 4, `${name}: mean ${mean} max ${max}`);
      total += mean;
    }
    assert.ok(total / names.length < 0.01, `average ${total / names.length}`);
  },
});

Deno.test("resizeArea: integer factors average blocks", () => {
  // 2x2 blocks round half up ((sum + 2) >> 2): 2.5 → 3, 4.5 → 5, 10.5 → 11, 12.5 → 13.
  const src = Array.from({ length: 16 }, (_, i) => i);
  assert.deepEqual(resize8(src, 4, 4, 2, 2), [3, 5, 11, 13]);
  // Other blocks: cvRound(sum / area), half to even: 10 / 4 = 2.5 → 2.
  assert.deepEqual(resize8([1, 2, 3, 4], 4, 1, 1, 1), [2]);
  assert.deepEqual(resize8([1, 2, 3, 4], 2, 2, 1, 1), [3]);
  assert.deepEqual(resize8(Array(9).fill(200), 3, 3, 1, 1), [200]);
});

Deno.test("resizeArea: fractional coverage weights", () => {
  // 3 → 2: each output covers 1.5 inputs. dst0 = (1·0 + 0.5·100) / 1.5 = 33.3,
  // dst1 = (0.5·100 + 1·200) / 1.5 = 166.7.
  assert.deepEqual(resize8([0, 100, 200], 3, 1, 2, 1), [33, 167]);
  // 5 → 2 rows of a constant stays constant.
  assert.deepEqual(resize8(Array(10).fill(77), 5, 2, 2, 1), [77, 77]);
});

Deno.test("resizeArea: upscaling uses OpenCV's area-placed linear taps", () => {
  // Integer upscale replicates pixels; 2 → 3 puts one sample halfway.
  assert.deepEqual(resize8([10, 200], 2, 1, 4, 1), [10, 10, 200, 200]);
  assert.deepEqual(resize8([0, 100], 2, 1, 3, 1), [0, 50, 100]);
});

Deno.test("resizeArea: bit-exact with cv2.resize INTER_AREA (OpenCV 4.6)", () => {
  // Random 8-bit images resized by cv2 4.6.0 (Debian bookworm), pasted here:
  // upscaling, mixed down/up, and a wide upscale (the vertical pass's rounding).
  // deno-fmt-ignore
  const cases: [number, number, number, number, number[], number[]][] = [
    [7, 5, 16, 9,
      [139, 74, 229, 241, 169, 65, 6, 160, 149, 106, 38, 175, 188, 205, 175, 229, 98, 249, 10, 148,
        95, 86, 147, 198, 66, 39, 106, 213, 171, 45, 167, 57, 69, 81, 55],
      [139, 139, 93, 74, 140, 229, 231, 241, 241, 179, 169, 110, 65, 48, 6, 6, 143, 143, 104, 89,
        138, 204, 204, 200, 200, 174, 170, 124, 89, 77, 46, 46, 160, 160, 152, 149, 131, 106, 96,
        38, 38, 155, 175, 182, 188, 193, 205, 205, 166, 166, 177, 181, 147, 103, 106, 122, 122, 111,
        109, 145, 172, 169, 161, 161, 175, 175, 214, 229, 173, 98, 120, 249, 249, 44, 10, 89, 148,
        133, 95, 95, 121, 121, 163, 180, 170, 158, 155, 139, 139, 43, 27, 82, 123, 135, 166, 166, 86,
        86, 130, 147, 169, 198, 179, 66, 66, 43, 39, 77, 106, 137, 213, 213, 154, 154, 91, 65, 112,
        173, 157, 59, 59, 62, 63, 76, 86, 86, 86, 86, 171, 171, 81, 45, 97, 167, 151, 57, 57, 67, 69,
        76, 81, 74, 55, 55]],
    [10, 7, 3, 5,
      [153, 178, 215, 76, 52, 39, 250, 72, 215, 50, 161, 223, 112, 172, 161, 233, 38, 17, 89, 1,
        221, 6, 242, 127, 143, 6, 60, 210, 94, 25, 166, 33, 249, 189, 12, 204, 33, 57, 124, 30, 199,
        149, 202, 119, 72, 220, 3, 209, 122, 136, 147, 77, 133, 82, 115, 87, 162, 230, 70, 71, 240,
        62, 47, 184, 31, 34, 63, 65, 146, 197],
      [170, 112, 100, 159, 116, 75, 157, 106, 83, 150, 111, 135, 121, 80, 128]],
    [5, 4, 17, 3,
      [81, 133, 240, 113, 30, 247, 103, 122, 31, 19, 42, 129, 141, 136, 33, 149, 161, 0, 178, 141],
      [123, 123, 123, 124, 126, 126, 142, 211, 211, 211, 116, 93, 93, 66, 27, 27, 27, 145, 145,
        145, 127, 116, 116, 119, 132, 132, 132, 93, 84, 84, 60, 26, 26, 26, 122, 122, 122, 141, 153,
        153, 129, 35, 35, 35, 141, 168, 168, 146, 114, 114, 114]],
  ];
  for (const [sw, sh, dw, dh, src, expected] of cases) {
    assert.deepEqual(resize8(src, sw, sh, dw, dh), expected, `${sw}x${sh} → ${dw}x${dh}`);
  }
});

Deno.test("resizeArea: same size is a copy; bad targets throw", () => {
  const img = grayFromArray(new Uint8Array([0, 51, 102, 255]), 2, 2, "t");
  assert.deepEqual(resizeArea(img, 2, 2).data, img.data);
  assert.throws(() => resizeArea(img, 0, 2), ImageError);
  assert.throws(() => resizeArea(img, 1.5, 2), ImageError);
});

Deno.test("inputSize: policies and scale factors", () => {
  // 800 · 640/1200 = 426.7 → nearest multiple of 16 is 432.
  assert.deepEqual(inputSize(1200, 800, DEFAULT_RESIZE_POLICY, 16), {
    width: 640,
    height: 432,
    scaleX: 1200 / 640,
    scaleY: 800 / 432,
  });
  assert.deepEqual(
    [
      inputSize(800, 1200, { longSide: 640 }, 16).width,
      inputSize(800, 1200, { longSide: 640 }, 16)
        .height,
    ],
    [432, 640],
  );
  // 968 · 640/1296 = 478.0 → 480; the ScanNet size becomes the reference 640x480.
  assert.deepEqual(inputSize(1296, 968, { longSide: 640 }, 16).height, 480);
  // A long thin image keeps at least one stride on its short side.
  const thin = inputSize(1000, 30, { longSide: 100 }, 16);
  assert.deepEqual([thin.width, thin.height], [96, 16]);
  assert.deepEqual(inputSize(1200, 800, { width: 640, height: 480 }, 16), {
    width: 640,
    height: 480,
    scaleX: 1200 / 640,
    scaleY: 800 / 480,
  });
  const orig = inputSize(1000, 750, "original", 16);
  assert.deepEqual([orig.width, orig.height, orig.scaleX], [992, 736, 1000 / 992]);
  assert.deepEqual([inputSize(1000, 750, "original", 8).width], [1000]);
});

Deno.test("inputSize: errors name the image", () => {
  const err = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e) => e instanceof ImageError && re.test(e.message));
  err(() => inputSize(640, 480, { width: 650, height: 480 }, 16, "a.png"), /^a\.png: .*stride 16/);
  err(() => inputSize(640, 480, { width: 0, height: 480 }, 16, "a.png"), /^a\.png: /);
  err(() => inputSize(640, 480, { longSide: 8 }, 16, "a.png"), /^a\.png: longSide 8/);
  err(() => inputSize(10, 100, { longSide: 640 }, 16, "s.jpg"), /^s\.jpg: 10x100 .*stride 16/);
  err(() => inputSize(1, 1, "original", 8, "dot.png"), /^dot\.png: 1x1/);
});

Deno.test("bad inputs give one-line ImageErrors that name the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const jpeg = await Deno.readFile(fixture("images/fountain_0001.jpg"));
    const files: Record<string, Uint8Array> = {
      "text.jpg": new TextEncoder().encode("not an image at all\n"),
      "empty.png": new Uint8Array(),
      "truncated.jpg": jpeg.slice(0, 5000),
      "anim.gif": new TextEncoder().encode("GIF89a\x01\x00\x01\x00"),
      "dot.png": png.encode(new Uint8Array([9, 9, 9, 255]), 1, 1, 4),
    };
    for (const [name, bytes] of Object.entries(files)) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
    }
    await Deno.mkdir(`${dir}/folder.png`);
    const expectations: [string, RegExp][] = [
      ["missing.png", /no such file/],
      ["folder.png", /is a directory/],
      ["text.jpg", /not an image/],
      ["empty.png", /empty file/],
      ["truncated.jpg", /corrupt or truncated JPEG/],
      ["anim.gif", /GIF is not supported/],
    ];
    for (const [name, re] of expectations) {
      const path = `${dir}/${name}`;
      await assert.rejects(loadImage(path), (e) => {
        assert.ok(e instanceof ImageError, `${name}: ${e}`);
        assert.ok(e.message.startsWith(`${path}: `) && re.test(e.message), e.message);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
    }
    // A 1x1 image decodes; the stride check rejects it, naming the file.
    const dot = await loadImage(`${dir}/dot.png`);
    assert.throws(
      () => inputSize(dot.width, dot.height, DEFAULT_RESIZE_POLICY, 16, dot.name),
      (e) => e instanceof ImageError && e.message.startsWith(`${dir}/dot.png: 1x1`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("color PNG → gray as libpng's rgb_to_gray (truncated 15-bit weights); alpha ignored", async () => {
  // Expected values from cv2.imread(…, IMREAD_GRAYSCALE) 4.6; cvtColor would give 150 and 124.
  const rgba = [[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255], [100, 100, 100, 255], [
    10,
    200,
    30,
    255,
  ], [255, 0, 0, 0]];
  const bytes = png.encode(new Uint8Array(rgba.flat()), rgba.length, 1, 4);
  const gray = await decodeImage(bytes, "colors.png");
  assert.deepEqual(levels(gray), [76, 149, 29, 100, 123, 76]);
});

Deno.test("JPEG EXIF orientation is applied like cv2.imread", async () => {
  // A 24x16 gray JPEG, pixel (x, y) ≈ (10x + 3y) mod 256, written by cv2.imencode (quality 90).
  const w = 24, h = 16;
  const jpeg = Uint8Array.from(atob(SMALL_JPEG), (c) => c.charCodeAt(0));
  /** The JPEG with an Exif APP1 holding only the orientation tag, big- or little-endian. */
  const withOrientation = (o: number, le: boolean) => {
    const tiff = new DataView(new ArrayBuffer(26));
    tiff.setUint16(0, le ? 0x4949 : 0x4d4d);
    tiff.setUint16(2, 42, le);
    tiff.setUint32(4, 8, le);
    tiff.setUint16(8, 1, le);
    tiff.setUint16(10, 0x0112, le);
    tiff.setUint16(12, 3, le);
    tiff.setUint32(14, 1, le);
    tiff.setUint16(18, o, le);
    const payload = [..."Exif\0\0"].map((c) => c.charCodeAt(0)).concat([
      ...new Uint8Array(tiff.buffer),
    ]);
    const len = payload.length + 2;
    return new Uint8Array([
      ...jpeg.subarray(0, 2),
      0xff,
      0xe1,
      len >> 8,
      len & 0xff,
      ...payload,
      ...jpeg.subarray(2),
    ]);
  };
  const plain = await decodeImage(jpeg, "plain.jpg");
  const at = (x: number, y: number) => plain.data[y * w + x];
  // EXIF 2..8 as pixel maps from the stored image (W x H) to the displayed one.
  const views: Record<number, (x: number, y: number) => number> = {
    1: (x, y) => at(x, y),
    2: (x, y) => at(w - 1 - x, y),
    3: (x, y) => at(w - 1 - x, h - 1 - y),
    4: (x, y) => at(x, h - 1 - y),
    5: (x, y) => at(y, x),
    6: (x, y) => at(y, h - 1 - x),
    7: (x, y) => at(w - 1 - y, h - 1 - x),
    8: (x, y) => at(w - 1 - y, x),
  };
  for (let o = 1; o <= 8; o++) {
    for (const le of [false, true]) {
      const img = await decodeImage(withOrientation(o, le), `o${o}.jpg`);
      const [ew, eh] = o >= 5 ? [h, w] : [w, h];
      assert.deepEqual([img.width, img.height], [ew, eh], `orientation ${o}`);
      const expected = Float32Array.from(
        { length: ew * eh },
        (_, i) => views[o](i % ew, (i / ew) | 0),
      );
      assert.deepEqual(img.data, expected, `orientation ${o} ${le ? "LE" : "BE"}`);
    }
  }
});

Deno.test("grayFromArray: scales 8-bit, copies floats, validates", () => {
  const g8 = grayFromArray(new Uint8Array([0, 255, 51]), 3, 1, "arr");
  assert.deepEqual(Array.from(g8.data), [0, 1, Math.fround(0.2)]);
  const f = new Float32Array([0, 0.5, 1, 0.25]);
  const gf = grayFromArray(f, 2, 2, "arr");
  f[0] = 1;
  assert.equal(gf.data[0], 0);
  const err = (fn: () => unknown, re: RegExp) =>
    assert.throws(
      fn,
      (e) => e instanceof ImageError && /^arr: /.test(e.message) && re.test(e.message),
    );
  err(() => grayFromArray(new Uint8Array(5), 2, 2, "arr"), /5 values for a 2x2 image/);
  err(() => grayFromArray(new Uint8Array(0), 0, 0, "arr"), /invalid size 0x0/);
  err(() => grayFromArray(new Float32Array([0, 1.5]), 2, 1, "arr"), /1\.5 at index 1/);
  err(() => grayFromArray(new Float32Array([NaN, 0]), 2, 1, "arr"), /NaN at index 0/);
});

Deno.test("drawMatches: side by side, lines and endpoints coloured", async () => {
  const img0 = grayFromArray(new Uint8Array(20 * 10), 20, 10, "a");
  const img1 = grayFromArray(new Uint8Array(30 * 15).fill(128), 30, 15, "b");
  const kpts0 = [2, 5, 18, 1];
  const kpts1 = [3, 5, 1, 12];
  const rgb = (im: { width: number; rgba: Uint8Array }, x: number, y: number) =>
    Array.from(im.rgba.subarray(4 * (y * im.width + x), 4 * (y * im.width + x) + 3));

  const flagged = await png.decode(
    drawMatches(img0, img1, kpts0, kpts1, { inliers: [true, false] }),
  );
  assert.deepEqual([flagged.width, flagged.height], [20 + 10 + 30, 15]);
  assert.deepEqual(rgb(flagged, 10, 5), [0, 255, 0]); // on the horizontal inlier line
  assert.deepEqual(rgb(flagged, 25, 5), [0, 255, 0]); // in the gap, still on the line
  assert.deepEqual(rgb(flagged, 2 + 1, 5 + 1), [0, 255, 0]); // endpoint disk, radius 2
  assert.deepEqual(rgb(flagged, 31, 12), [255, 0, 0]); // outlier endpoint in image 1
  assert.deepEqual(rgb(flagged, 10, 2), [0, 0, 0]); // image 0 untouched
  assert.deepEqual(rgb(flagged, 50, 2), [128, 128, 128]); // image 1 untouched
  assert.deepEqual(rgb(flagged, 25, 0), [255, 255, 255]); // gap
  assert.deepEqual(rgb(flagged, 5, 13), [255, 255, 255]); // padding under the shorter image

  const byConf = await png.decode(
    drawMatches(img0, img1, kpts0, kpts1, { confidence: [0, 1], radius: 0 }),
  );
  assert.deepEqual(rgb(byConf, 10, 5), [...viridis(0)]);
  assert.deepEqual(rgb(byConf, 18, 1), [...viridis(1)]);
  assert.deepEqual(rgb(byConf, 2, 6), [0, 0, 0]); // radius 0: no disk
  assert.deepEqual([...viridis(0), ...viridis(1)], [68, 1, 84, 253, 231, 37]);

  const again = drawMatches(img0, img1, kpts0, kpts1, { inliers: [true, false] });
  assert.deepEqual(again, drawMatches(img0, img1, kpts0, kpts1, { inliers: [1, 0] }));
  assert.throws(() => drawMatches(img0, img1, [1, 2], [1, 2, 3, 4]), RangeError);
  assert.throws(() => drawMatches(img0, img1, [1, 2], [3, 4], { confidence: [1, 1] }), RangeError);
  assert.throws(() => drawMatches(img0, img1, [1, NaN], [3, 4]), RangeError);
});

const SMALL_JPEG =
  "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/wAALCAAQABgBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/APiP4SaJ/qfl9K+1fhJon+p+X0r7W+Emif6n5fSvyU+Emif6n5fSvtX4SaJ/qfl9K9g/aM8a33wc/ZK+I3ijTEuBqUWmCxtZ7S6a1mtpbuVLRLhJFBKtE04lGMEmMAFc7h//2Q==";
