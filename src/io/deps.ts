/**
 * The pure-JavaScript npm packages of the I/O edge, named with full `npm:`
 * specifiers (see src/deps.ts for why): fflate (the zip archives of PyTorch
 * checkpoints) and csv-parse (dataset tables). The image codecs are in
 * codecs.ts.
 * @module
 */

export { unzipSync, zipSync } from "npm:fflate@^0.8.2";
export { parse as parseCsv } from "npm:csv-parse@^5.6.0/sync";
