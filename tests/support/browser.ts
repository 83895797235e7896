/**
 * Browser harness of the test suite: finds the installed Chromium (or Firefox
 * ESR), launches it headless with WebGPU on its CPU adapter and off the
 * network, and drives it with the npm package `puppeteer-core` (which
 * downloads nothing: it runs the browser given).
 *
 * ```ts
 * const browser = await BrowserSession.launch();
 * try {
 *   await browser.open("http://127.0.0.1:8000/");
 *   await browser.waitFor(() => document.title.startsWith("matches"));
 *   await browser.screenshot("out/page.png");
 * } finally {
 *   await browser.close();
 * }
 * ```
 *
 * Tests that need Chromium register with {@link browserTest}: where none is
 * installed they are ignored and their name says so.
 *
 * Facts behind the flags: ../shared/docs/browser.md (beside the repository).
 * @module
 */

import { type Browser, type Page, puppeteer } from "./deps.ts";

/** The puppeteer-core version this harness was written and checked against. */
export const PUPPETEER_VERSION = "25.16.0";

/** Where Chromium is looked for, in order (after `$CHROMIUM_PATH`). */
export const CHROMIUM_CANDIDATES: readonly string[] = [
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
];

/** Where Firefox is looked for, in order (after `$FIREFOX_PATH`). */
export const FIREFOX_CANDIDATES: readonly string[] = ["/usr/bin/firefox-esr", "/usr/bin/firefox"];

/**
 * Chromium's flags, beside the headless mode and the profile folder that
 * {@link BrowserSession.launch} adds: WebGPU on SwiftShader (CPU adapters are
 * blocklisted without `--enable-unsafe-webgpu`; `--no-sandbox` because tests
 * may run as root), then everything that would reach the network.
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--enable-unsafe-swiftshader",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** Firefox preferences that turn WebGPU on (it is blocklisted on CPU adapters). */
export const FIREFOX_PREFS: Readonly<Record<string, unknown>> = {
  "dom.webgpu.enabled": true,
  "gfx.webgpu.ignore-blocklist": true,
};

function executable(path: string | undefined): boolean {
  if (!path) return false;
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function findIn(envVar: string, candidates: readonly string[]): string | null {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get(envVar);
  } catch {
    // No --allow-env: the candidates only.
  }
  if (fromEnv === "none") return null;
  return [fromEnv, ...candidates].find(executable) ?? null;
}

/**
 * The Chromium executable (`$CHROMIUM_PATH`, else {@link CHROMIUM_CANDIDATES}),
 * or `null` (also when `$CHROMIUM_PATH` is `none`: how to run the suite as
 * on a machine without it).
 */
export function findChromium(): string | null {
  return findIn("CHROMIUM_PATH", CHROMIUM_CANDIDATES);
}

/** The Firefox executable (`$FIREFOX_PATH`, else {@link FIREFOX_CANDIDATES}), or `null` (or `none`). */
export function findFirefox(): string | null {
  return findIn("FIREFOX_PATH", FIREFOX_CANDIDATES);
}

/** The installed Chromium, found once when this module loads, or `null`. */
export const chromiumPath: string | null = findChromium();

/** The installed Firefox, found once when this module loads, or `null`. */
export const firefoxPath: string | null = findFirefox();

/**
 * Registers a test that needs Chromium (or, with `browser: "firefox"`,
 * Firefox). Without it the test is ignored and its name ends with
 * `[skipped: chromium not installed]` (`firefox`).
 */
export function browserTest(
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
  options: Omit<Deno.TestDefinition, "name" | "fn" | "ignore"> & {
    browser?: "chrome" | "firefox";
  } = {},
): void {
  const { browser = "chrome", ...rest } = options;
  const found = browser === "chrome" ? chromiumPath : firefoxPath;
  const what = browser === "chrome" ? "chromium" : "firefox";
  Deno.test({
    ...rest,
    name: found ? name : `${name} [skipped: ${what} not installed]`,
    ignore: found === null,
    // puppeteer keeps timers and sockets of its own between calls; the session's close() ends them.
    sanitizeOps: false,
    sanitizeResources: false,
    fn,
  });
}

/** Options of {@link BrowserSession.launch}. */
export interface LaunchOptions {
  /** `"chrome"` (default: Chromium) or `"firefox"` (puppeteer's WebDriver BiDi). */
  browser?: "chrome" | "firefox";
  /** The executable (default: {@link findChromium} or {@link findFirefox}). */
  executablePath?: string;
  /** Flags after the defaults ({@link CHROMIUM_FLAGS} for Chromium). */
  args?: string[];
  /**
   * Chromium with WebGPU on its CPU adapter (default true); false leaves out
   * `--enable-unsafe-webgpu` and `--enable-unsafe-swiftshader`, as a user's
   * browser on a machine whose adapter is blocklisted.
   */
  webgpu?: boolean;
  /** Firefox preferences besides {@link FIREFOX_PREFS}. */
  prefs?: Record<string, unknown>;
  /** Longest wait for one DevTools-protocol call, e.g. an `evaluate` (default 300 000 ms). */
  protocolTimeoutMs?: number;
  /** Viewport of the page (default 1280 × 800). */
  viewport?: { width: number; height: number };
  /** Echo the page's console to this process's stderr (default false). */
  echoConsole?: boolean;
}

/**
 * One headless browser with one page, a fresh profile folder, and the page's
 * problems collected in {@link BrowserSession.errors}.
 */
export class BrowserSession {
  /** The puppeteer browser. */
  readonly browser: Browser;
  /** The page every method acts on. */
  readonly page: Page;
  /** Milliseconds from the call of {@link BrowserSession.launch} to a usable page. */
  readonly startMs: number;
  /** Every console message of the page, as `type: text`. */
  readonly console: string[] = [];
  /**
   * The page's problems: console errors, uncaught exceptions, failed
   * requests and HTTP responses of status 400 or more.
   */
  readonly errors: string[] = [];
  #profile: string;

  private constructor(browser: Browser, page: Page, profile: string, startMs: number) {
    this.browser = browser;
    this.page = page;
    this.#profile = profile;
    this.startMs = startMs;
  }

  /** Launches the browser headless with a fresh profile folder and opens a blank page. */
  static async launch(options: LaunchOptions = {}): Promise<BrowserSession> {
    const t0 = performance.now();
    const kind = options.browser ?? "chrome";
    const executablePath = options.executablePath ??
      (kind === "chrome" ? findChromium() : findFirefox());
    if (!executablePath) throw new Error(`no ${kind === "chrome" ? "Chromium" : "Firefox"} found`);
    const profile = await Deno.makeTempDir({ prefix: "loftr-browser-" });
    let browser: Browser | undefined;
    try {
      browser = await puppeteer.launch({
        browser: kind,
        executablePath,
        headless: true,
        userDataDir: profile,
        args: kind === "chrome"
          ? [
            ...CHROMIUM_FLAGS.filter((f) =>
              options.webgpu !== false || !/unsafe-(webgpu|swift)/.test(f)
            ),
            ...options.args ?? [],
          ]
          : [...options.args ?? []],
        extraPrefsFirefox: kind === "firefox" ? { ...FIREFOX_PREFS, ...options.prefs } : undefined,
        protocolTimeout: options.protocolTimeoutMs ?? 300_000,
        defaultViewport: options.viewport ?? { width: 1280, height: 800 },
      });
      const page = (await browser.pages())[0] ?? await browser.newPage();
      const session = new BrowserSession(browser, page, profile, performance.now() - t0);
      session.#listen(options.echoConsole ?? false);
      return session;
    } catch (e) {
      await browser?.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  #listen(echo: boolean): void {
    const page = this.page;
    page.on("console", (m) => {
      const line = `${m.type()}: ${m.text()}`;
      this.console.push(line);
      if (echo) console.error(`[page] ${line}`);
      if (m.type() === "error") this.errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => {
      this.errors.push(`uncaught: ${(e as Error).message ?? e}`);
    });
    page.on("requestfailed", (r) => {
      this.errors.push(`request failed: ${r.url()} (${r.failure()?.errorText ?? "?"})`);
    });
    page.on("response", (r) => {
      if (r.status() >= 400) this.errors.push(`HTTP ${r.status()}: ${r.url()}`);
    });
  }

  /** Navigates the page to `url` and waits for its load event. */
  async open(url: string): Promise<void> {
    await this.page.goto(url, { waitUntil: "load" });
  }

  /**
   * Runs `fn` in the page (serialised: it must not close over anything of
   * this process; pass values as JSON-able `args`) and returns its result,
   * awaited, as JSON. A rejection in the page rejects here with its message.
   */
  async evaluate<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    ...args: A
  ): Promise<R> {
    // deno-lint-ignore no-explicit-any
    return await this.page.evaluate(fn as any, ...args) as R;
  }

  /** Waits until `predicate` (run in the page) is truthy, at most `timeoutMs`. */
  async waitFor(predicate: () => unknown, timeoutMs = 300_000): Promise<void> {
    await this.page.waitForFunction(predicate, { timeout: timeoutMs, polling: 100 });
  }

  /** Writes a PNG screenshot of the page (the viewport, or the whole page with `fullPage`). */
  async screenshot(path: string, fullPage = false): Promise<void> {
    const png = await this.page.screenshot({ type: "png", fullPage, encoding: "binary" });
    await Deno.writeFile(path, png as Uint8Array);
  }

  /** The browser's version string, e.g. `Chrome/156.0.8078.114`. */
  version(): Promise<string> {
    return this.browser.version();
  }

  /** Closes the browser and removes its profile folder. */
  async close(): Promise<void> {
    try {
      await this.browser.close();
    } finally {
      await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
    }
  }
}
