/**
 * Helpers of the tests that run the real `colmap` (Debian's colmap 3.8):
 * whether it is installed, running it headless, and the rows of a database.
 */
import { DatabaseSync } from "node:sqlite";

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

/**
 * Every row of every table of a SQLite file (a COLMAP database), tables by
 * name, rows in rowid order, integers as bigint, blobs as bytes: two files
 * with equal dumps hold the same data.
 */
export function sqliteRows(path: string): Record<string, unknown[]> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const out: Record<string, unknown[]> = {};
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all().map((r) => String(r.name));
    for (const t of tables) {
      const s = db.prepare(`SELECT * FROM ${t} ORDER BY rowid`);
      s.setReadBigInts(true);
      out[t] = s.all();
    }
    return out;
  } finally {
    db.close();
  }
}
