/**
 * The focal length a JPEG's EXIF block gives, turned into pixels as COLMAP
 * 3.8's `Bitmap::ExifFocalLength` does, for the focal-length prior of a
 * camera (`prior_focal_length` 1):
 * 1. `FocalLengthIn35mmFilm` (tag 0xA405) > 0: `f = f35 / 35 · max(width, height)`
 *    (COLMAP divides by 35, not by the 36 mm film width);
 * 2. else `FocalLength` in mm (0x920A) with the sensor width from
 *    `PixelXDimension / FocalPlaneXResolution` (0xA002, 0xA20E, unit 0xA210,
 *    inches or cm only, as COLMAP): `f = f_mm / sensor_width_mm · max(width, height)`.
 * COLMAP also looks the camera's make and model up in its own sensor-width
 * database between those two steps; that table is not reproduced here, so a
 * photo that only COLMAP's database knows gets no prior from this module
 * (COLMAP's default guess then applies). Platform neutral: bytes in.
 * @module
 */

/** The EXIF fields that matter for the focal length (absent ones undefined). */
export interface ExifFocalFields {
  /** `FocalLengthIn35mmFilm`, mm. */
  focalLength35mm?: number;
  /** `FocalLength`, mm. */
  focalLengthMm?: number;
  /** `PixelXDimension`, pixels. */
  pixelXDimension?: number;
  /** `FocalPlaneXResolution`, pixels per unit. */
  focalPlaneXResolution?: number;
  /** `FocalPlaneResolutionUnit`: 2 inch, 3 cm (4 mm, 5 µm exist but COLMAP ignores them). */
  focalPlaneResolutionUnit?: number;
  /** `Make` (IFD0). */
  make?: string;
  /** `Model` (IFD0). */
  model?: string;
}

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8 };

/**
 * Reads the focal-length fields of a JPEG's EXIF (APP1 "Exif") block; null
 * when the file is not a JPEG or has no readable EXIF. Never throws on
 * malformed EXIF: fields that cannot be read are left out.
 */
export function readExifFocalFields(jpeg: Uint8Array): ExifFocalFields | null {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return null;
  let o = 2;
  while (o + 4 <= jpeg.length && jpeg[o] === 0xff) {
    const marker = jpeg[o + 1];
    if (marker === 0xd9 || marker === 0xda) break; // end of image, start of scan
    const len = (jpeg[o + 2] << 8) | jpeg[o + 3];
    if (len < 2 || o + 2 + len > jpeg.length) return null;
    const seg = jpeg.subarray(o + 4, o + 2 + len);
    if (
      marker === 0xe1 && seg.length > 14 &&
      String.fromCharCode(...seg.subarray(0, 4)) === "Exif" && seg[4] === 0 && seg[5] === 0
    ) {
      try {
        return parseTiff(seg.subarray(6));
      } catch {
        return null;
      }
    }
    o += 2 + len;
  }
  return null;
}

function parseTiff(t: Uint8Array): ExifFocalFields {
  const view = new DataView(t.buffer, t.byteOffset, t.byteLength);
  const order = String.fromCharCode(t[0], t[1]);
  if (order !== "II" && order !== "MM") throw new Error("not TIFF");
  const le = order === "II";
  const u16 = (p: number) => view.getUint16(p, le), u32 = (p: number) => view.getUint32(p, le);
  if (u16(2) !== 42) throw new Error("not TIFF");
  type Entry = { type: number; count: number; at: number };
  const ifd = (start: number): Map<number, Entry> => {
    const out = new Map<number, Entry>();
    const n = u16(start);
    for (let k = 0; k < n; k++) {
      const e = start + 2 + 12 * k;
      const type = u16(e + 2), count = u32(e + 4);
      const size = (TYPE_SIZE[type] ?? 0) * count;
      if (size === 0) continue;
      const at = size <= 4 ? e + 8 : u32(e + 8);
      if (at + size > t.length) continue;
      out.set(u16(e), { type, count, at });
    }
    return out;
  };
  const num = (e: Entry | undefined): number | undefined => {
    if (!e) return undefined;
    switch (e.type) {
      case 3:
        return u16(e.at);
      case 4:
        return u32(e.at);
      case 5: {
        const d = u32(e.at + 4);
        return d ? u32(e.at) / d : undefined;
      }
      case 10: {
        const d = view.getInt32(e.at + 4, le);
        return d ? view.getInt32(e.at, le) / d : undefined;
      }
    }
    return undefined;
  };
  const str = (e: Entry | undefined): string | undefined =>
    e && e.type === 2
      ? new TextDecoder().decode(t.subarray(e.at, e.at + e.count)).replace(/\0.*$/s, "").trim()
      : undefined;
  const ifd0 = ifd(u32(4));
  const out: ExifFocalFields = { make: str(ifd0.get(0x010f)), model: str(ifd0.get(0x0110)) };
  const exifAt = num(ifd0.get(0x8769));
  if (exifAt !== undefined && exifAt < t.length) {
    const exif = ifd(exifAt);
    out.focalLength35mm = num(exif.get(0xa405));
    out.focalLengthMm = num(exif.get(0x920a));
    out.pixelXDimension = num(exif.get(0xa002));
    out.focalPlaneXResolution = num(exif.get(0xa20e));
    out.focalPlaneResolutionUnit = num(exif.get(0xa210));
  }
  for (const k of Object.keys(out) as (keyof ExifFocalFields)[]) {
    if (out[k] === undefined) delete out[k];
  }
  return out;
}

/** Millimetres per `FocalPlaneResolutionUnit` that COLMAP 3.8 accepts: inch and cm only. */
const UNIT_MM: Record<number, number> = { 2: 25.4, 3: 10 };

/**
 * The focal length in pixels of a photo of `width` × `height` pixels from its
 * EXIF fields, by COLMAP's rules (see the module's notes); null when EXIF
 * does not give one.
 */
export function exifFocalLengthPx(
  fields: ExifFocalFields | null,
  width: number,
  height: number,
): number | null {
  if (!fields) return null;
  const maxSize = Math.max(width, height);
  if (fields.focalLength35mm && fields.focalLength35mm > 0) {
    return (fields.focalLength35mm / 35) * maxSize;
  }
  const f = fields.focalLengthMm, px = fields.pixelXDimension, res = fields.focalPlaneXResolution;
  const unit = UNIT_MM[fields.focalPlaneResolutionUnit ?? 0];
  if (f && f > 0 && px && px > 0 && res && res > 0 && unit) {
    const sensorWidthMm = (px / res) * unit;
    return (f / sensorWidthMm) * maxSize;
  }
  return null;
}
