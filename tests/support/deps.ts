/**
 * The npm packages of the test harness, with full `npm:` specifiers, as
 * src/deps.ts does for the engine. puppeteer-core downloads no browser: it
 * drives the one installed (tests/support/browser.ts).
 * @module
 */

export { default as puppeteer } from "npm:puppeteer-core@25.16.0";
export type { Browser, Page } from "npm:puppeteer-core@25.16.0";
