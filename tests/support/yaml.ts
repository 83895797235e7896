/**
 * The YAML parser of the tests (npm:yaml), named in one place with its full
 * `npm:` specifier, as src/deps.ts does for the library's packages.
 * @module
 */

export { parseAllDocuments } from "npm:yaml@^2.9.1";
