/**
 * A resumable results file: JSON Lines whose first line records the
 * configuration that produced it, then one record per finished item, each
 * appended in a single write as it finishes, so that a crash or Ctrl-C
 * loses nothing and a rerun with the same file skips what is done; a file
 * written with another configuration is refused, naming the settings that
 * differ.
 * @module
 */

/** A record of a results file: its item's id, and `error` when the item failed (retried on resume). */
export interface ResultRecord {
  /** The item's id. */
  id: string;
  /** Why the item could not be computed; such records are retried on resume. */
  error?: string;
}

/** A results file opened by {@link ResultsFile.open}: its finished records, and appending. */
export class ResultsFile<R extends ResultRecord> {
  /** Its path. */
  readonly path: string;
  /** Finished pairs by id (the last record of each id). */
  readonly done: Map<string, R>;

  private constructor(path: string, done: Map<string, R>) {
    this.path = path;
    this.done = done;
  }

  /**
   * Opens (or creates) a JSON Lines results file whose first line records
   * `config`, marked by `kind.key` (e.g. `deno-loftr-eval`, its value the
   * format version 1). An existing file must have that mark (else an Error
   * says it is not a results file of `kind.producer`) and record the same
   * configuration (else an Error says which settings differ); a last line
   * cut short by a crash is removed.
   */
  static async open<R extends ResultRecord>(
    path: string,
    kind: { key: string; producer: string },
    config: Record<string, unknown>,
  ): Promise<ResultsFile<R>> {
    const header = JSON.stringify({ [kind.key]: 1, config });
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      text = "";
    }
    const complete = text.slice(0, text.lastIndexOf("\n") + 1);
    if (!complete) {
      await Deno.writeTextFile(path, header + "\n");
      return new ResultsFile<R>(path, new Map());
    }
    if (complete.length < text.length) {
      await Deno.truncate(path, new TextEncoder().encode(complete).length);
    }
    const lines = complete.trimEnd().split("\n");
    let theirs: Record<string, unknown> | undefined;
    try {
      const first = JSON.parse(lines[0]);
      if (first[kind.key] === 1) theirs = first.config;
    } catch { /* not JSON: reported below */ }
    if (!theirs) {
      throw new Error(`${path}: not a results file of ${kind.producer}; use another --out`);
    }
    const differ = settingsDifferences(theirs, config);
    if (differ.length) {
      throw new Error(
        `${path} holds results of another configuration (${differ.join("; ")}); ` +
          `use another --out, or delete the file to start over`,
      );
    }
    const done = new Map<string, R>();
    lines.slice(1).forEach((line, i) => {
      let r: R;
      try {
        r = JSON.parse(line);
      } catch {
        throw new Error(`${path}:${i + 2}: not a JSON line`);
      }
      if (r.error) done.delete(r.id);
      else done.set(r.id, r);
    });
    return new ResultsFile<R>(path, done);
  }

  /** Appends one record (a single write of a whole line). */
  async append(record: R): Promise<void> {
    await Deno.writeTextFile(this.path, JSON.stringify(record) + "\n", { append: true });
    if (!record.error) this.done.set(record.id, record);
  }
}

/**
 * Settings that differ between two configurations (nested objects compared
 * key by key), each as `key: theirs there, ours here`.
 */
export function settingsDifferences(
  theirs: Record<string, unknown>,
  ours: Record<string, unknown>,
): string[] {
  const flat = (o: Record<string, unknown>, prefix = ""): [string, string][] =>
    Object.entries(o).flatMap(([k, v]) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? flat(v as Record<string, unknown>, `${prefix}${k}.`)
        : [[`${prefix}${k}`, JSON.stringify(v)] as [string, string]]
    );
  const a = new Map(flat(theirs)), b = new Map(flat(ours));
  return [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).map((k) =>
    `${k}: ${a.get(k) ?? "unset"} there, ${b.get(k) ?? "unset"} here`
  );
}
