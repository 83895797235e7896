import assert from "node:assert/strict";
import { exifFocalLengthPx, readExifFocalFields } from "../../src/io/exif.ts";
import { fixture } from "../support/util.ts";
import { jpegWithExif } from "../support/exif.ts";

Deno.test("exif: the 35 mm equivalent first, as COLMAP (f35 / 35 · max side)", () => {
  for (const le of [true, false]) {
    const jpeg = jpegWithExif(
      [{ tag: 0x010f, type: 2, value: "Canon" }, { tag: 0x0110, type: 2, value: "EOS 5D" }],
      [{ tag: 0xa405, type: 3, value: 28 }, { tag: 0x920a, type: 5, value: [24, 1] }],
      le,
    );
    const f = readExifFocalFields(jpeg)!;
    assert.deepEqual(f, { make: "Canon", model: "EOS 5D", focalLength35mm: 28, focalLengthMm: 24 });
    assert.equal(exifFocalLengthPx(f, 1200, 800), (28 / 35) * 1200);
  }
});

Deno.test("exif: else the focal length in mm over the sensor width of the focal plane", () => {
  // 4000 px across at 1000 px per cm: a 40 mm sensor; 20 mm lens → 0.5 · max side
  const jpeg = jpegWithExif([], [
    { tag: 0x920a, type: 5, value: [20, 1] },
    { tag: 0xa002, type: 4, value: 4000 },
    { tag: 0xa20e, type: 5, value: [1000, 1] },
    { tag: 0xa210, type: 3, value: 3 },
  ], true);
  const f = readExifFocalFields(jpeg)!;
  assert.equal(exifFocalLengthPx(f, 1200, 800), 600);
  // COLMAP 3.8 takes inches and cm only
  assert.equal(exifFocalLengthPx({ ...f, focalPlaneResolutionUnit: 4 }, 1200, 800), null);
  assert.equal(exifFocalLengthPx({ focalLengthMm: 20 }, 1200, 800), null);
});

Deno.test("exif: none in the bundled photos, nor in non-JPEG or broken data", async () => {
  const photo = await Deno.readFile(fixture("images/fountain_0000.jpg"));
  const fields = readExifFocalFields(photo);
  assert.equal(exifFocalLengthPx(fields, 1200, 800), null);
  assert.equal(readExifFocalFields(new Uint8Array([0x89, 0x50, 0x4e, 0x47])), null);
  const broken = jpegWithExif([], [{ tag: 0xa405, type: 3, value: 28 }], true);
  broken[12] = 0x41; // "AI" is not a byte order
  assert.equal(readExifFocalFields(broken), null);
});
