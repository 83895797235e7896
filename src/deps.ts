/**
 * The npm packages deno-loftr uses, named in one place with full `npm:`
 * specifiers. A project that imports `mod.ts` (by path or by URL) resolves
 * our modules with its own configuration, not our `deno.json`, so bare
 * package names would not resolve there; full specifiers always do.
 *
 * imagescript is imported by subpath: its main entry loads a native add-on
 * at import time (needing `--allow-ffi`); its wasm decoders and JavaScript
 * PNG encoder do not.
 * @module
 */

export { unzipSync, zipSync } from "npm:fflate@^0.8.2";
export { EigenvalueDecomposition, Matrix, SingularValueDecomposition } from "npm:ml-matrix@^6.12.1";
export { parse as parseCsv } from "npm:csv-parse@^5.6.0/sync";
export { default as jpegDecoder } from "npm:imagescript@^1.3.1/wasm/node/jpeg.js";
export { default as pngDecoder } from "npm:imagescript@^1.3.1/wasm/node/png.js";
export { default as pngEncoder } from "npm:imagescript@^1.3.1/png/node.js";
