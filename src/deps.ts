/**
 * The npm package the platform-neutral core uses (ml-matrix, pure
 * JavaScript: it runs in Deno and, bundled, in a page), named with its full
 * `npm:` specifier. A project that imports `mod.ts` (by path or by URL)
 * resolves our modules with its own configuration, not our `deno.json`, so
 * bare package names would not resolve there; full specifiers always do. The
 * packages of the I/O edge are named in io/deps.ts and io/codecs.ts.
 * @module
 */

export {
  CholeskyDecomposition,
  EigenvalueDecomposition,
  Matrix,
  SingularValueDecomposition,
} from "npm:ml-matrix@^6.12.1";
