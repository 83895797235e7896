/**
 * The image codecs: imagescript's JPEG and PNG decoders (WebAssembly) and its
 * PNG encoder, named once with full `npm:` specifiers. Only the modules that
 * read or write image files import this one (decode.ts, viz.ts): the
 * decoders read an environment variable when loaded, so a command or program
 * that needs no image never loads them.
 *
 * imagescript is imported by subpath: its main entry loads a native add-on
 * at import time (needing `--allow-ffi`); its wasm decoders and JavaScript
 * PNG encoder do not.
 * @module
 */

export { default as jpegDecoder } from "npm:imagescript@^1.3.1/wasm/node/jpeg.js";
export { default as pngDecoder } from "npm:imagescript@^1.3.1/wasm/node/png.js";
export { default as pngEncoder } from "npm:imagescript@^1.3.1/png/node.js";
