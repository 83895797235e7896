/**
 * Small float64 linear algebra for two-view geometry: 3×3 matrices stored
 * row-major in length-9 arrays, and the null space of the small systems the
 * fundamental-matrix solvers build. The SVD and the symmetric eigensolver
 * are ml-matrix's (Golub–Kahan–Reinsch and Householder + QL, ported from JAMA).
 * @module
 */
import {
  CholeskyDecomposition,
  EigenvalueDecomposition,
  Matrix,
  SingularValueDecomposition,
} from "../deps.ts";

/** A 3×3 matrix, row-major: `m[3 * row + col]`. */
export type Mat3 = Float64Array;

/** A 3-vector. */
export type Vec3 = [number, number, number];

/** `a · b` for 3×3 matrices. */
export function mul3(a: ArrayLike<number>, b: ArrayLike<number>): Mat3 {
  const c = new Float64Array(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      c[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    }
  }
  return c;
}

/** `aᵀ`. */
export function transpose3(a: ArrayLike<number>): Mat3 {
  return Float64Array.of(a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]);
}

/** Determinant of a 3×3 matrix. */
export function det3(a: ArrayLike<number>): number {
  return a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) +
    a[2] * (a[3] * a[7] - a[4] * a[6]);
}

/** The adjugate of a 3×3 matrix: its inverse times its determinant (defined for singular ones too). */
export function adjugate3(a: ArrayLike<number>): Mat3 {
  // deno-fmt-ignore
  return Float64Array.of(
    a[4] * a[8] - a[5] * a[7], a[2] * a[7] - a[1] * a[8], a[1] * a[5] - a[2] * a[4],
    a[5] * a[6] - a[3] * a[8], a[0] * a[8] - a[2] * a[6], a[2] * a[3] - a[0] * a[5],
    a[3] * a[7] - a[4] * a[6], a[1] * a[6] - a[0] * a[7], a[0] * a[4] - a[1] * a[3],
  );
}

/** `a · v` for a 3×3 matrix and a 3-vector. */
export function mulVec3(a: ArrayLike<number>, v: ArrayLike<number>): Vec3 {
  return [
    a[0] * v[0] + a[1] * v[1] + a[2] * v[2],
    a[3] * v[0] + a[4] * v[1] + a[5] * v[2],
    a[6] * v[0] + a[7] * v[1] + a[8] * v[2],
  ];
}

/** The rotation of `degrees` about `axis` (normalised here), by Rodrigues' formula. */
export function axisAngleRotation(degrees: number, axis: ArrayLike<number>): Mat3 {
  const n = Math.hypot(axis[0], axis[1], axis[2]);
  const [x, y, z] = [axis[0] / n, axis[1] / n, axis[2] / n];
  const t = (degrees * Math.PI) / 180, c = Math.cos(t), s = Math.sin(t), C = 1 - c;
  // deno-fmt-ignore
  return Float64Array.of(
    c + x * x * C, x * y * C - z * s, x * z * C + y * s,
    y * x * C + z * s, c + y * y * C, y * z * C - x * s,
    z * x * C - y * s, z * y * C + x * s, c + z * z * C,
  );
}

/** Angle of a rotation matrix in degrees (atan2 form: accurate near 0° and 180°). */
export function rotationAngle(R: ArrayLike<number>): number {
  const c = (R[0] + R[4] + R[8] - 1) / 2;
  const s = Math.hypot(R[7] - R[5], R[2] - R[6], R[3] - R[1]) / 2;
  return Math.atan2(s, c) * 180 / Math.PI;
}

/** Frobenius norm. */
export function frobenius(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** `a / ‖a‖_F`, with the sign chosen so that the entry of largest magnitude is positive. */
export function normalizeSign(a: ArrayLike<number>): Float64Array {
  let big = 0;
  for (let i = 1; i < a.length; i++) if (Math.abs(a[i]) > Math.abs(a[big])) big = i;
  const s = (a[big] < 0 ? -1 : 1) / frobenius(a);
  return Float64Array.from(a, (v) => v * s);
}

/** Singular value decomposition `A = U diag(S) Vᵀ` of a 3×3 matrix, S in decreasing order. */
export interface Svd3 {
  U: Mat3;
  S: Vec3;
  V: Mat3;
}

/** SVD of a 3×3 matrix (U, V orthogonal, possibly with determinant −1). */
export function svd3(a: ArrayLike<number>): Svd3 {
  const m = new Matrix([[a[0], a[1], a[2]], [a[3], a[4], a[5]], [a[6], a[7], a[8]]]);
  const svd = new SingularValueDecomposition(m);
  const flat = (x: Matrix) => Float64Array.from(x.to1DArray());
  const s = svd.diagonal;
  return {
    U: flat(svd.leftSingularVectors),
    S: [s[0], s[1], s[2]],
    V: flat(svd.rightSingularVectors),
  };
}

/**
 * The `k` right singular vectors of smallest singular value of the `rows × n`
 * matrix `a` (row-major), i.e. a basis of its (approximate) null space, last
 * one = smallest. Fewer rows than columns are padded with zero rows so the
 * full right basis exists. Also returns all singular values, decreasing.
 */
export function nullSpace(
  a: ArrayLike<number>,
  rows: number,
  n: number,
  k: number,
): { vectors: Float64Array[]; singularValues: number[] } {
  const m = Matrix.zeros(Math.max(rows, n), n);
  for (let i = 0; i < rows; i++) for (let j = 0; j < n; j++) m.set(i, j, a[i * n + j]);
  const svd = new SingularValueDecomposition(m, { autoTranspose: false });
  const v = svd.rightSingularVectors;
  const vectors: Float64Array[] = [];
  for (let c = n - k; c < n; c++) vectors.push(Float64Array.from(v.getColumn(c)));
  return { vectors, singularValues: svd.diagonal };
}

/**
 * Unit eigenvector of the smallest eigenvalue of the symmetric `n × n` matrix
 * `a` (row-major): the least-squares null vector of A when `a = AᵀA`, the same
 * as the last right singular vector of `a` (up to sign and round-off) at a
 * third of the cost of an SVD.
 */
export function symmetricNullVector(a: ArrayLike<number>, n: number): Float64Array {
  const m = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m.set(i, j, a[i * n + j]);
  const evd = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  return Float64Array.from(evd.eigenvectorMatrix.getColumn(0)); // eigenvalues ascend
}

/**
 * Eigen-decomposition of the symmetric `n × n` matrix `a` (row-major):
 * eigenvalues in ascending order and their unit eigenvectors.
 */
export function symmetricEigen(
  a: ArrayLike<number>,
  n: number,
): { values: number[]; vectors: Float64Array[] } {
  const m = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m.set(i, j, a[i * n + j]);
  const evd = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  const v = evd.eigenvectorMatrix;
  return {
    values: evd.realEigenvalues,
    vectors: Array.from({ length: n }, (_, k) => Float64Array.from(v.getColumn(k))),
  };
}

/**
 * The solver of `A x = b` for the symmetric positive-definite `n × n` matrix
 * `a` (row-major), by its Cholesky factorisation, computed once; `null` when
 * `a` is not positive definite (to round-off).
 */
export function choleskySolver(
  a: ArrayLike<number>,
  n: number,
): ((b: ArrayLike<number>) => Float64Array) | null {
  const m = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m.set(i, j, a[i * n + j]);
  const chol = new CholeskyDecomposition(m);
  if (!chol.isPositiveDefinite()) return null;
  return (b) => Float64Array.from(chol.solve(Matrix.columnVector(Array.from(b))).getColumn(0));
}
