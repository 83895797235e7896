import assert from "node:assert/strict";
import { exifFocalLengthPx, readExifFocalFields } from "../../src/io/exif.ts";
import { fixture } from "../support/util.ts";

type Tag = { tag: number; type: 2 | 3 | 4 | 5; value: number | [number, number] | string };

/** A JPEG holding only an EXIF block: IFD0 (Make, Model, Exif pointer) and an Exif IFD. */
function jpegWithExif(ifd0: Tag[], exif: Tag[], littleEndian: boolean): Uint8Array {
  const buf = new Uint8Array(1024), view = new DataView(buf.buffer);
  let heap = 512; // out-of-line values
  const writeIfd = (at: number, tags: Tag[], next: number) => {
    view.setUint16(at, tags.length, littleEndian);
    tags.forEach((t, k) => {
      const e = at + 2 + 12 * k;
      view.setUint16(e, t.tag, littleEndian);
      view.setUint16(e + 2, t.type, littleEndian);
      if (t.type === 2) {
        const bytes = new TextEncoder().encode(`${t.value}\0`);
        view.setUint32(e + 4, bytes.length, littleEndian);
        buf.set(bytes, heap);
        view.setUint32(e + 8, heap, littleEndian);
        heap += bytes.length;
      } else if (t.type === 5) {
        const [n, d] = t.value as [number, number];
        view.setUint32(e + 4, 1, littleEndian);
        view.setUint32(heap, n, littleEndian);
        view.setUint32(heap + 4, d, littleEndian);
        view.setUint32(e + 8, heap, littleEndian);
        heap += 8;
      } else if (t.type === 3) {
        view.setUint32(e + 4, 1, littleEndian);
        view.setUint16(e + 8, t.value as number, littleEndian);
      } else {
        view.setUint32(e + 4, 1, littleEndian);
        view.setUint32(e + 8, t.value as number, littleEndian);
      }
    });
    view.setUint32(at + 2 + 12 * tags.length, next, littleEndian);
  };
  buf.set(new TextEncoder().encode(littleEndian ? "II" : "MM"), 0);
  view.setUint16(2, 42, littleEndian);
  view.setUint32(4, 8, littleEndian);
  const exifAt = 8 + 2 + 12 * (ifd0.length + 1) + 4;
  writeIfd(8, [...ifd0, { tag: 0x8769, type: 4, value: exifAt }], 0);
  writeIfd(exifAt, exif, 0);
  const tiff = buf.subarray(0, heap);
  const app1 = new Uint8Array(4 + 6 + tiff.length);
  app1.set([0xff, 0xe1, (app1.length - 2) >> 8, (app1.length - 2) & 255]);
  app1.set(new TextEncoder().encode("Exif\0\0"), 4);
  app1.set(tiff, 10);
  return Uint8Array.from([0xff, 0xd8, ...app1, 0xff, 0xd9]);
}

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
