/**
 * Running COLMAP's incremental mapper (`colmap mapper`, Debian's `colmap`
 * 3.8) on a database: the command line, whether `colmap` is installed, and
 * the run itself, headless (without `DISPLAY`), its output kept in a log.
 * @module
 */

/** The COLMAP executable looked up on the PATH. */
export const COLMAP = "colmap";

/** How to get COLMAP where it is missing. */
export const COLMAP_INSTALL_HINT =
  "install COLMAP (Debian/Ubuntu: apt-get install colmap; elsewhere https://colmap.github.io/install.html)";

/**
 * The arguments of `colmap mapper` for a database, its image folder and an
 * output folder (sub-models `output/0`, `output/1`, …). Only COLMAP's
 * defaults otherwise; its `--random_seed` is 0 by default, so a database
 * gives the same model on every run.
 */
export function mapperArgs(database: string, images: string, output: string): string[] {
  return ["mapper", "--database_path", database, "--image_path", images, "--output_path", output];
}

/** A command line as a shell would take it (arguments quoted where needed). */
export function shellCommand(program: string, args: readonly string[]): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);
  return [program, ...args].map(q).join(" ");
}

/** Whether `colmap` can be started (found on the PATH and allowed to run). */
export async function colmapAvailable(): Promise<boolean> {
  try {
    const r = await new Deno.Command(COLMAP, { args: ["help"], stdout: "null", stderr: "null" })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

/**
 * Runs `colmap …args` headless, writing its standard output and error to
 * `logPath`; returns its exit code (0 on success).
 */
export async function runColmap(args: readonly string[], logPath: string): Promise<number> {
  const env = Deno.env.toObject();
  delete env.DISPLAY;
  const log = await Deno.open(logPath, { write: true, create: true, truncate: true });
  try {
    const child = new Deno.Command(COLMAP, {
      args: [...args],
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const copy = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) {
        for (let k = 0; k < chunk.length;) k += await log.write(chunk.subarray(k));
      }
    };
    const [status] = await Promise.all([child.status, copy(child.stdout), copy(child.stderr)]);
    return status.code;
  } finally {
    log.close();
  }
}
