/** JPEG EXIF blocks written by hand, for the tests of the EXIF readers and of `match`. */

/** An EXIF tag: ASCII (2), SHORT (3), LONG (4) or RATIONAL (5). */
export type Tag = { tag: number; type: 2 | 3 | 4 | 5; value: number | [number, number] | string };

/**
 * A JPEG holding an EXIF block: IFD0 (the tags given, and the Exif pointer)
 * and an Exif IFD; with `image`, the block is put into that JPEG's bytes
 * right after its start marker, else the JPEG holds the block alone.
 */
export function jpegWithExif(
  ifd0: Tag[],
  exif: Tag[],
  littleEndian: boolean,
  image?: Uint8Array,
): Uint8Array {
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
  const rest = image ? image.subarray(2) : Uint8Array.of(0xff, 0xd9);
  const out = new Uint8Array(2 + app1.length + rest.length);
  out.set([0xff, 0xd8]);
  out.set(app1, 2);
  out.set(rest, 2 + app1.length);
  return out;
}
