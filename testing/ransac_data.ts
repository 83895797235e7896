/**
 * Real match sets for the RANSAC bench and tests: relpose sets with their
 * SIFT matches (`matches_sift/<pair_index>.csv`, `x1,y1,x2,y2`), read through
 * the evaluation's own reader (io/dataset.ts), on ../shared/data/relpose_dev
 * or tests/fixtures/relpose. Synthetic sets are in synthetic_matches.ts.
 * @module
 */
import { DatasetError, type EvalPair, loadDataset, readCsv } from "../src/io/dataset.ts";

/** One pair of a relpose set with its ground truth and, when its file exists, its SIFT matches. */
export interface SiftPair extends EvalPair {
  /** Path of the match CSV (which may not exist). */
  matchFile: string;
  /** Matches in image 0 / image 1, `[x, y, …]` pixels; empty when the match file is absent. */
  points0: Float64Array;
  points1: Float64Array;
}

/**
 * Reads a relpose set (io/dataset.ts, images not required) and, for each row
 * i of its `pairs.csv` with a file `matches_sift/<iii>.csv` (`x1,y1,x2,y2`:
 * image 1 and 2 of the file, images 0 and 1 here), its matches.
 */
export async function loadSiftPairs(dir: string): Promise<SiftPair[]> {
  const set = await loadDataset(dir, { requireImages: false, covisibility: 0 });
  if (set.bad.length) throw new Error(`${set.bad[0].where}: ${set.bad[0].reason}`);
  return await Promise.all(set.pairs.map(async (pair, i) => {
    const matchFile = `${dir}/matches_sift/${String(i).padStart(3, "0")}.csv`;
    let points0 = new Float64Array(0), points1 = new Float64Array(0);
    try {
      const rows = await readCsv(matchFile, ["x1", "y1", "x2", "y2"]);
      points0 = Float64Array.from(rows.flatMap((r) => [Number(r.fields.x1), Number(r.fields.y1)]));
      points1 = Float64Array.from(rows.flatMap((r) => [Number(r.fields.x2), Number(r.fields.y2)]));
    } catch (e) {
      if (!(e instanceof DatasetError && e.message.endsWith("no such file"))) throw e;
    }
    return { ...pair, matchFile, points0, points1 };
  }));
}
