/**
 * The npm package of the web build (Deno-side, never part of a page), with
 * its full `npm:` specifier, as src/deps.ts does for the engine. Its native
 * binary comes from npm as `@esbuild/<platform>`; no install script runs.
 * @module
 */

export * as esbuild from "npm:esbuild@0.28.2";
