/**
 * Helpers of the tests that run the real `colmap` (Debian's colmap 3.8):
 * whether it is installed, and running it headless.
 */

/** Whether a `colmap` executable is on the PATH (asked once). */
export const colmapInstalled: boolean = (() => {
  try {
    return new Deno.Command("colmap", { args: ["help"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/** Options for `Deno.test` that skip (with a note) when colmap is not installed. */
export function needsColmap(what: string): { ignore: boolean; name: string } {
  return {
    ignore: !colmapInstalled,
    name: colmapInstalled ? what : `${what} [skipped: colmap not installed]`,
  };
}

/**
 * Runs `colmap …args` without DISPLAY (headless, as BASELINES.md); throws
 * with the end of its output when it fails. Returns stdout + stderr.
 */
export async function runColmap(args: string[]): Promise<string> {
  const env = Deno.env.toObject();
  delete env.DISPLAY;
  const r = await new Deno.Command("colmap", {
    args,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  if (!r.success) throw new Error(`colmap ${args[0]} failed (${r.code}):\n${text.slice(-2000)}`);
  return text;
}
