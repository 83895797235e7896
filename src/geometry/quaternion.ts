/**
 * Unit quaternions as COLMAP writes them: Hamilton convention, scalar first,
 * `q = (qw, qx, qy, qz)`, for world-to-camera rotations (`x_cam = R(q) X + t`).
 * Platform neutral.
 * @module
 */
import type { Mat3, Vec3 } from "./linalg.ts";

/** A quaternion `(w, x, y, z)`, scalar first. */
export type Quaternion = [number, number, number, number];

/**
 * The rotation matrix (row-major) of a quaternion, normalised first:
 * `R = [[1-2(y²+z²), 2(xy-wz), 2(xz+wy)], [2(xy+wz), 1-2(x²+z²), 2(yz-wx)],
 * [2(xz-wy), 2(yz+wx), 1-2(x²+y²)]]`. Throws for a zero or non-finite quaternion.
 */
export function rotationFromQuaternion(q: ArrayLike<number>): Mat3 {
  const n = Math.hypot(q[0], q[1], q[2], q[3]);
  if (!(n > 0) || !Number.isFinite(n)) throw new Error(`not a rotation quaternion: ${q}`);
  const w = q[0] / n, x = q[1] / n, y = q[2] / n, z = q[3] / n;
  // deno-fmt-ignore
  return Float64Array.of(
    1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
  );
}

/**
 * The unit quaternion of a rotation matrix (row-major), with `w ≥ 0` as
 * COLMAP writes it (Shepperd's method: the largest of the four candidates
 * divides, so it is accurate for every rotation).
 */
export function quaternionFromRotation(R: ArrayLike<number>): Quaternion {
  const [m00, m01, m02, m10, m11, m12, m20, m21, m22] = Array.from(R);
  const tr = m00 + m11 + m22;
  let q: Quaternion;
  if (tr >= m00 && tr >= m11 && tr >= m22) {
    const s = 2 * Math.sqrt(1 + tr);
    q = [s / 4, (m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s];
  } else if (m00 >= m11 && m00 >= m22) {
    const s = 2 * Math.sqrt(1 + m00 - m11 - m22);
    q = [(m21 - m12) / s, s / 4, (m01 + m10) / s, (m02 + m20) / s];
  } else if (m11 >= m22) {
    const s = 2 * Math.sqrt(1 + m11 - m00 - m22);
    q = [(m02 - m20) / s, (m01 + m10) / s, s / 4, (m12 + m21) / s];
  } else {
    const s = 2 * Math.sqrt(1 + m22 - m00 - m11);
    q = [(m10 - m01) / s, (m02 + m20) / s, (m12 + m21) / s, s / 4];
  }
  const n = Math.hypot(...q) * (q[0] < 0 ? -1 : 1);
  return q.map((v) => v / n) as Quaternion;
}

/**
 * The inverse of the rigid motion `(q, t)` (`x' = R(q) x + t`): `(q̄, −R(q)ᵀ t)`,
 * the quaternion conjugated (its `w` kept, so `w ≥ 0` stays true).
 */
export function invertPose(q: ArrayLike<number>, t: ArrayLike<number>): { q: Quaternion; t: Vec3 } {
  const R = rotationFromQuaternion(q);
  return {
    q: [q[0], -q[1], -q[2], -q[3]],
    t: [
      -(R[0] * t[0] + R[3] * t[1] + R[6] * t[2]),
      -(R[1] * t[0] + R[4] * t[1] + R[7] * t[2]),
      -(R[2] * t[0] + R[5] * t[1] + R[8] * t[2]),
    ],
  };
}
