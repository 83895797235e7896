/**
 * The pair store of a reconstruction (`DIR/pairs.sqlite`, or one file per
 * shard under `DIR/shards/`): a SQLite file (Deno's built-in `node:sqlite`)
 * holding the settings and image list it was written for, and each matched
 * pair's result, inserted as the pair finishes.
 *
 * * **Crash-safe.** Each pair is one `INSERT`, atomic in SQLite: Ctrl-C or a
 *   crash loses at most the pair being computed, never a finished one, and
 *   leaves no half-written pair.
 * * **Resumable, idempotent.** A rerun opens the store, skips the pairs it
 *   holds and adds the others; a pair already present is left as it is
 *   (`INSERT OR IGNORE`: the same settings give the same result).
 * * **Two runs at once** (a retried pod beside its predecessor) take turns on
 *   SQLite's lock (`busy_timeout`), so the file is never corrupted.
 * * **Refuses another run's file**: opened with other settings, another image
 *   list or another shard, it throws naming the file and what differs.
 *
 * Positions are stored as float32 `[x, y, …]` in this engine's pixel
 * convention, the scores as float32, the RANSAC inlier mask as bytes.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { settingsDifferences } from "./results_file.ts";

/** One matched pair as stored. */
export interface StoredPair {
  /** Name of image 0 (relative to the image folder). */
  image0: string;
  /** Name of image 1. */
  image1: string;
  /** Positions in image 0, `[x, y, …]`, one per match. */
  keypoints0: Float32Array;
  /** Their partners in image 1. */
  keypoints1: Float32Array;
  /** The matcher's confidence of each match. */
  scores: Float32Array;
  /** RANSAC's inlier mask over the matches (1 = inlier). */
  inliers: Uint8Array;
  /** The RANSAC threshold used, pixels. */
  ransacThreshold: number;
}

/** What a store was written for; a store opened with another header is refused. */
export interface PairStoreHeader {
  /** Everything that decides a pair's result (the pipeline's configuration). */
  settings: Record<string, unknown>;
  /** The photos, in the run's order (names relative to the image folder). */
  images: string[];
  /**
   * For a shard's store: shard `index` of `count`, the fingerprint of the whole
   * pair list it is a part of, and the number of pairs of the shard (the
   * store is complete when it holds them all). `null` for an unsharded run.
   */
  shard: { index: number; count: number; pairList: string; pairs: number } | null;
}

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS header (id INTEGER PRIMARY KEY CHECK (id = 1), format TEXT NOT NULL,
     json TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS pairs (image0 TEXT NOT NULL, image1 TEXT NOT NULL,
     count INTEGER NOT NULL, keypoints0 BLOB NOT NULL, keypoints1 BLOB NOT NULL,
     scores BLOB NOT NULL, inliers BLOB NOT NULL, ransac_threshold REAL NOT NULL,
     PRIMARY KEY (image0, image1))`,
];

/** The mark of a pair store in its header row (and its format version). */
export const PAIR_STORE_FORMAT = "deno-loftr-pairs/1";

/** How long a run waits for another run's write to the same store, ms. */
const BUSY_TIMEOUT_MS = 60_000;

/** A pair store opened by {@link PairStore.open}. */
export class PairStore {
  /** The file. */
  readonly path: string;
  /** What it was written for. */
  readonly header: PairStoreHeader;
  #db: DatabaseSync;

  private constructor(path: string, header: PairStoreHeader, db: DatabaseSync) {
    this.path = path;
    this.header = header;
    this.#db = db;
  }

  /**
   * Opens the store at `path`, creating it with `header` if it does not
   * exist. An existing store must have been written for the same header:
   * else an Error names the file and what differs (settings, image list,
   * shard), and the file is left untouched. A file that is not a pair store
   * is refused too.
   */
  static open(path: string, header: PairStoreHeader): PairStore {
    const db = connect(path, false);
    try {
      return PairStore.#init(path, header, db);
    } catch (e) {
      db.close();
      const message = (e as Error).message;
      throw message.startsWith(path) ? e : new Error(`${path}: not a pair store (${message})`);
    }
  }

  /** Creates the tables and header, or checks the header, in one write transaction. */
  static #init(path: string, header: PairStoreHeader, db: DatabaseSync): PairStore {
    db.exec("BEGIN IMMEDIATE");
    try {
      for (const sql of SCHEMA) db.exec(sql);
      const row = db.prepare("SELECT format, json FROM header").get();
      if (!row) {
        db.prepare("INSERT INTO header (id, format, json) VALUES (1, ?, ?)")
          .run(PAIR_STORE_FORMAT, JSON.stringify(header));
      }
      db.exec("COMMIT");
      if (row) checkHeader(path, row, header);
    } catch (e) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw e;
    }
    return new PairStore(path, header, db);
  }

  /**
   * Opens an existing store read-only, whatever it was written for (its
   * header is in {@link PairStore.header}). Throws naming the file when it is
   * missing or not a pair store.
   */
  static read(path: string): PairStore {
    const db = connect(path, true);
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
      if (!tables.some((t) => t.name === "header")) throw notAStore(path);
      const row = db.prepare("SELECT format, json FROM header").get();
      if (!row || row.format !== PAIR_STORE_FORMAT) throw notAStore(path);
      return new PairStore(path, JSON.parse(String(row.json)), db);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** The pairs it holds, as `image0\timage1` keys (see {@link pairKey}). */
  keys(): Set<string> {
    const rows = this.#db.prepare("SELECT image0, image1 FROM pairs").all();
    return new Set(rows.map((r) => pairKey(String(r.image0), String(r.image1))));
  }

  /** Number of pairs held. */
  count(): number {
    return Number(this.#db.prepare("SELECT COUNT(*) AS n FROM pairs").get()!.n);
  }

  /** Adds a finished pair in one atomic insert; a pair already held is kept as it is. */
  put(pair: StoredPair): void {
    const n = pair.scores.length;
    if (pair.keypoints0.length !== 2 * n || pair.keypoints1.length !== 2 * n) {
      throw new RangeError(`${pair.image0} ${pair.image1}: ${n} scores, positions differ`);
    }
    if (pair.inliers.length !== n) throw new RangeError(`${pair.image0} ${pair.image1}: mask`);
    this.#db.prepare(
      `INSERT OR IGNORE INTO pairs (image0, image1, count, keypoints0, keypoints1, scores, inliers,
         ransac_threshold) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      pair.image0,
      pair.image1,
      n,
      bytes(pair.keypoints0),
      bytes(pair.keypoints1),
      bytes(pair.scores),
      bytes(pair.inliers),
      pair.ransacThreshold,
    );
  }

  /** The pair stored as (image0, image1), or `null`. */
  get(image0: string, image1: string): StoredPair | null {
    const r = this.#db.prepare("SELECT * FROM pairs WHERE image0 = ? AND image1 = ?")
      .get(image0, image1);
    if (!r) return null;
    const f32 = (b: unknown) => new Float32Array(copy(b as Uint8Array).buffer);
    return {
      image0,
      image1,
      keypoints0: f32(r.keypoints0),
      keypoints1: f32(r.keypoints1),
      scores: f32(r.scores),
      inliers: copy(r.inliers as Uint8Array),
      ransacThreshold: Number(r.ransac_threshold),
    };
  }

  /** Closes the file. */
  close(): void {
    this.#db.close();
  }
}

/** The key of a pair in {@link PairStore.keys}. */
export function pairKey(image0: string, image1: string): string {
  return `${image0}\t${image1}`;
}

function connect(path: string, readOnly: boolean): DatabaseSync {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly });
  } catch (e) {
    throw new Error(`${path}: cannot open the pair store: ${(e as Error).message}`);
  }
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  return db;
}

function notAStore(path: string): Error {
  return new Error(`${path}: not a pair store of deno task reconstruct`);
}

/** Throws naming `path` when the stored header `row` is not `ours`. */
function checkHeader(path: string, row: Record<string, unknown>, ours: PairStoreHeader): void {
  if (row.format !== PAIR_STORE_FORMAT) throw notAStore(path);
  const theirs: PairStoreHeader = JSON.parse(String(row.json));
  const differ = settingsDifferences(theirs.settings, ours.settings);
  if (differ.length) {
    throw new Error(
      `${path} holds pairs matched with other settings (${differ.join("; ")}); ` +
        `use another --out, or delete it to start over`,
    );
  }
  const a = theirs.images, b = ours.images;
  if (a.length !== b.length || a.some((n, i) => n !== b[i])) {
    const i = a.findIndex((n, k) => n !== b[k]);
    const first = i < 0 ? `${b[a.length]} added` : `photo ${i + 1}: ${a[i]} there, ${b[i]} here`;
    throw new Error(
      `${path} was written for another image list (${a.length} photos there, ${b.length} ` +
        `here; ${first}); use another --out`,
    );
  }
  const s = theirs.shard, t = ours.shard;
  if (JSON.stringify(s) !== JSON.stringify(t)) {
    const what = (x: PairStoreHeader["shard"]) =>
      x ? `shard ${x.index}/${x.count} of pair list ${x.pairList.slice(0, 12)}` : "no shard";
    throw new Error(
      `${path} was written for ${what(s)}, this run is ${what(t)}; use another --out`,
    );
  }
}

function bytes(a: Float32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function copy(b: Uint8Array): Uint8Array {
  return Uint8Array.from(b);
}
