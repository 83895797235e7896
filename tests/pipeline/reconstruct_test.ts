// The library steps of `deno task reconstruct`: pair selection, the pair store
// (resume, refusal of another run's file, two writers at once) and the merge +
// GPU verification on a synthetic scene whose true correspondences are known.
import assert from "node:assert/strict";
import { Gpu } from "../../src/gpu/mod.ts";
import { cameraCentre } from "../../src/geometry/sfm_metric.ts";
import { TwoViewConfig } from "../../src/io/colmap_database.ts";
import { pairKey, PairStore, type StoredPair } from "../../src/io/pair_store.ts";
import {
  exhaustivePairs,
  parsePairList,
  sequentialPairs,
} from "../../src/pipeline/pair_selection.ts";
import { type MatchedPair, mergeAndVerify } from "../../src/pipeline/reconstruct.ts";
import { seededRandom, withTempDir } from "../support/util.ts";
import { projectPoint, syntheticScene } from "../support/synthetic_scene.ts";

Deno.test("pair selection: exhaustive and sequential", () => {
  assert.deepEqual(exhaustivePairs(4), [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]);
  assert.equal(exhaustivePairs(25).length, 300);
  assert.deepEqual(exhaustivePairs(1), []);
  assert.deepEqual(sequentialPairs(4, 2), [[0, 1], [0, 2], [1, 2], [1, 3], [2, 3]]);
  assert.deepEqual(sequentialPairs(3, 5), exhaustivePairs(3));
  assert.throws(() => sequentialPairs(3, 0), /--sequential 0/);
});

Deno.test("pair selection: a pair file, with its errors naming file and line", () => {
  const names = ["a.jpg", "b.jpg", "c.jpg"];
  const list = parsePairList("# hloc\na.jpg b.jpg\n\nc.jpg\ta.jpg\nb.jpg a.jpg\n", names, "p.txt");
  assert.deepEqual(list.pairs, [[0, 1], [2, 0]]);
  assert.deepEqual(list.repeated, ["p.txt:5: b.jpg a.jpg repeats line 2"]);
  assert.throws(() => parsePairList("a.jpg b.jpg\na.jpg x.jpg\n", names, "p.txt"), {
    message: "p.txt:2: no image x.jpg among the 3 photos",
  });
  assert.throws(() => parsePairList("a.jpg b.jpg c.jpg\n", names, "p.txt"), {
    message: 'p.txt:1: expected two image names, got "a.jpg b.jpg c.jpg"',
  });
  assert.throws(() => parsePairList("a.jpg a.jpg\n", names, "p.txt"), /p\.txt:1: a\.jpg paired/);
  assert.throws(() => parsePairList("# none\n", names, "p.txt"), /p\.txt: no pair listed/);
});

/** The 2-px cell of point k's projection (cells start at the image's corner, tracks.ts). */
/** The 2-px merge cell of a position, as a key. */
function cellAt(x: number, y: number): string {
  return [x, y].map((v) => Math.floor((v + 0.5) / 2)).join(",");
}

function cellOf(projections: Float64Array, k: number): string {
  return cellAt(projections[2 * k], projections[2 * k + 1]);
}

function storedPair(image0: string, image1: string, n: number, seed: number): StoredPair {
  const rnd = seededRandom(seed);
  const f = (k: number) => Float32Array.from({ length: k }, () => 1000 * rnd());
  return {
    image0,
    image1,
    keypoints0: f(2 * n),
    keypoints1: f(2 * n),
    scores: f(n),
    inliers: Uint8Array.from({ length: n }, () => (rnd() < 0.5 ? 1 : 0)),
    ransacThreshold: 1,
  };
}

Deno.test("pair store: pairs come back as stored, a reopened store skips them, another run's store is refused", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/pairs.sqlite`;
    const header = { settings: { resize: { longSide: 640 }, seed: 0 }, images: ["a", "b", "c"] };
    const p = storedPair("a", "b", 50, 1), q = storedPair("c", "a", 7, 2);
    const store = PairStore.open(path, { ...header, shard: null });
    store.put(p);
    store.put(q);
    store.put(storedPair("a", "b", 3, 9)); // already held: kept as it was
    store.close();
    const again = PairStore.open(path, { ...header, shard: null });
    assert.deepEqual(again.keys(), new Set([pairKey("a", "b"), pairKey("c", "a")]));
    assert.deepEqual(again.get("a", "b"), p);
    assert.deepEqual(again.get("c", "a"), q);
    assert.equal(again.get("b", "a"), null);
    again.close();
    assert.throws(
      () =>
        PairStore.open(path, { ...header, settings: { ...header.settings, seed: 1 }, shard: null }),
      {
        message: `${path} holds pairs matched with other settings (seed: 0 there, 1 here); ` +
          `use another --out, or delete it to start over`,
      },
    );
    assert.throws(
      () => PairStore.open(path, { ...header, images: ["a", "b", "d"], shard: null }),
      new RegExp(
        `${path} was written for another image list \\(3 photos there, 3 here; photo 3: c there, d here\\)`,
      ),
    );
    const shard = { index: 0, count: 2, pairList: "0123456789abcdef", pairs: 3 };
    assert.throws(
      () => PairStore.open(path, { ...header, shard }),
      /was written for no shard, this run is shard 0\/2 of pair list 0123456789ab/,
    );
    await Deno.writeTextFile(`${dir}/other.sqlite`, "not sqlite");
    assert.throws(
      () => PairStore.open(`${dir}/other.sqlite`, { ...header, shard: null }),
      /other\.sqlite/,
    );
    // The refused file is intact.
    const read = PairStore.read(path);
    assert.equal(read.count(), 2);
    assert.deepEqual(read.header.settings, header.settings);
    read.close();
  });
});

Deno.test("pair store: two writers on one store at once (a retried task beside its predecessor)", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/shard.sqlite`;
    const header = { settings: { seed: 0 }, images: ["a", "b", "c", "d"], shard: null };
    const pairs = exhaustivePairs(4).map(([i, j], k) =>
      storedPair(header.images[i], header.images[j], 200, k)
    );
    // Two workers in other threads write the same pairs in opposite orders.
    const code = `
      import { PairStore } from "${new URL("../../src/io/pair_store.ts", import.meta.url).href}";
      self.onmessage = (e) => {
        const { path, header, pairs } = e.data;
        const store = PairStore.open(path, header);
        for (const p of pairs) store.put(p);
        store.close();
        self.postMessage("done");
      };`;
    const url = URL.createObjectURL(new Blob([code], { type: "application/typescript" }));
    const run = (list: StoredPair[]) =>
      new Promise<void>((resolve, reject) => {
        const w = new Worker(url, { type: "module" });
        w.onmessage = () => (w.terminate(), resolve());
        w.onerror = (e) => (w.terminate(), reject(e));
        w.postMessage({ path, header, pairs: list });
      });
    await Promise.all([run(pairs), run([...pairs].reverse())]);
    const store = PairStore.read(path);
    assert.equal(store.count(), pairs.length);
    for (const p of pairs) assert.deepEqual(store.get(p.image0, p.image1), p);
    store.close();
  });
});

Deno.test("merge and verify: keypoints shared across pairs, one match per keypoint, duplicates of both match orders collapse, the first RANSAC's outliers merged for the verification to judge, E with intrinsics", async () => {
  const scene = syntheticScene(3, 300, 7);
  const rnd = seededRandom(3), uniform = () => (rnd() + 1) / 2;
  const pairs: MatchedPair[] = [];
  const outlierCells = scene.projections.map(() => new Set<string>()), outliers: number[] = [];
  for (const [a, b] of exhaustivePairs(3)) {
    // Each point seen in both views, matched once a→b and once b→a (0.1 px apart);
    // 15% of them (both orders) marked as outliers by the first RANSAC although correct
    // (as a match just outside its threshold is), which the verification must keep; and
    // true outliers beside 10% of the others (a better score, the point's own position in
    // a, in b 10–50 px off the epipolar line), which it must reject.
    const k0: number[] = [], k1: number[] = [], s: number[] = [], inl: number[] = [];
    const centreA = cameraCentre(scene.poses[a]);
    let outlierCount = 0;
    for (let i = 0; i < scene.points.length; i++) {
      const pa = scene.projections[a], pb = scene.projections[b];
      if (Number.isNaN(pa[2 * i]) || Number.isNaN(pb[2 * i])) continue;
      const firstVerdict = uniform() < 0.15 ? 0 : 1;
      // 0.1 px towards the inside of the position's 2-px cell, so that both stay in one cell
      const inward = (
        v: number,
      ) => (Math.floor((v + 0.5 + 0.1) / 2) === Math.floor((v + 0.5) / 2) ? 0.1 : -0.1);
      const da = inward(pa[2 * i]), db = inward(pb[2 * i + 1]);
      for (const d of [0, 1]) {
        k0.push(pa[2 * i] + d * da, pa[2 * i + 1]);
        k1.push(pb[2 * i], pb[2 * i + 1] + d * db);
        s.push(0.9);
        inl.push(firstVerdict);
      }
      if (firstVerdict && uniform() < 0.1) {
        // the epipolar line of pa in b runs through pb towards the image of a point
        // farther along a's ray; the outlier steps off it, at right angles
        const X = scene.points[i];
        const far = projectPoint(
          scene.colmapParams,
          scene.poses[b],
          X.map((v, d) => centreA[d] + 1.5 * (v - centreA[d])),
        );
        const dx = far[0] - pb[2 * i], dy = far[1] - pb[2 * i + 1], len = Math.hypot(dx, dy);
        const off = (10 + 40 * uniform()) * (uniform() < 0.5 ? -1 : 1);
        const ox = pb[2 * i] - off * dy / len, oy = pb[2 * i + 1] + off * dx / len;
        k0.push(pa[2 * i], pa[2 * i + 1]);
        k1.push(ox, oy);
        s.push(0.95);
        inl.push(0);
        outlierCells[b].add(cellAt(ox, oy));
        outlierCount++;
      }
    }
    outliers.push(outlierCount);
    pairs.push({
      image0: a,
      image1: b,
      keypoints0: Float32Array.from(k0),
      keypoints1: Float32Array.from(k1),
      scores: Float32Array.from(s),
      inliers: Uint8Array.from(inl),
      ransacThreshold: 1,
    });
  }
  const [fx, fy, cx, cy] = scene.colmapParams;
  const K = Float64Array.of(fx, 0, cx - 0.5, 0, fy, cy - 0.5, 0, 0, 1);
  const TOL = 0.1 + 1e-3;
  const gpu = await Gpu.create();
  try {
    const options = {
      cellSize: 2,
      minInliers: 15,
      threshold: "auto" as const,
      ransac: { confidence: 0.99999, maxIterations: 10000, seed: 0 },
    };
    const calibrated = await mergeAndVerify(gpu, 3, pairs, { ...options, intrinsics: [K, K, K] });
    const plain = await mergeAndVerify(gpu, 3, pairs, options);
    assert.equal(calibrated.verified, 3);
    assert.equal(plain.verified, 3);
    for (const [i, p] of calibrated.pairs.entries()) {
      const [a, b] = [p.image0, p.image1];
      const pa = scene.projections[a], pb = scene.projections[b];
      const seen: number[] = [];
      for (let k = 0; k < scene.points.length; k++) {
        if (!Number.isNaN(pa[2 * k]) && !Number.isNaN(pb[2 * k])) seen.push(k);
      }
      // One verified match per point seen in both views (the two orders and the
      // outlier of the same cell collapse; the first RANSAC's correct outliers kept),
      // each between the point's true projections; a point sharing its 2-px cell with
      // another point or an outlier's position may lose its match.
      const aloneSet = new Set(
        seen.filter((k) =>
          [pa, pb].every((pr) =>
            seen.filter((q) => cellOf(pr, q) === cellOf(pr, k)).length === 1
          ) &&
          !outlierCells[b].has(cellOf(pb, k))
        ),
      );
      const alone = aloneSet.size;
      const n = p.inliers!.length / 2;
      assert.ok(n >= alone && n <= seen.length, `pair ${i}: ${n} of ${alone}…${seen.length}`);
      assert.ok(alone >= 0.95 * seen.length, "few shared cells");
      const rejected = p.matches.length / 2 - n;
      assert.ok(rejected <= outliers[i], `pair ${i}: ${rejected} merged matches not verified`);
      const kp0 = calibrated.keypoints[a], kp1 = calibrated.keypoints[b];
      const used0 = new Set<number>(), used1 = new Set<number>();
      for (let m = 0; m < p.inliers!.length; m += 2) {
        const u = p.inliers![m], v = p.inliers![m + 1];
        assert.ok(!used0.has(u) && !used1.has(v), "one match per keypoint and pair");
        used0.add(u);
        used1.add(v);
        // Every position merged into a keypoint is within 0.1 px of its point's true
        // projection, so is their weighted mean (+ float32 rounding at 640 px, < 1e-4 px):
        // the nearest true projection in a is that close, and its partner in b too.
        const x = kp0[2 * u], y = kp0[2 * u + 1];
        const k = seen.reduce((best, q) =>
          Math.hypot(pa[2 * q] - x, pa[2 * q + 1] - y) <
              Math.hypot(pa[2 * best] - x, pa[2 * best + 1] - y)
            ? q
            : best
        );
        if (!aloneSet.has(k)) continue; // a keypoint of two points' cell is between them
        assert.ok(Math.hypot(pa[2 * k] - x, pa[2 * k + 1] - y) <= TOL, `pair ${i} match ${m / 2}`);
        assert.ok(Math.hypot(pb[2 * k] - kp1[2 * v], pb[2 * k + 1] - kp1[2 * v + 1]) <= TOL);
      }
      assert.equal(p.config, TwoViewConfig.CALIBRATED);
      assert.ok(p.E && p.F);
      assert.equal(plain.pairs[i].config, TwoViewConfig.UNCALIBRATED);
      assert.equal(plain.pairs[i].E, null);
    }
    // A point seen in three views is one keypoint in each: as many keypoints as
    // occupied cells of the points seen in another view too.
    for (let c = 0; c < 3; c++) {
      const pc = scene.projections[c];
      const cells = new Set(
        scene.points.map((_, k) => k).filter((k) =>
          !Number.isNaN(pc[2 * k]) &&
          [0, 1, 2].some((o) => o !== c && !Number.isNaN(scene.projections[o][2 * k]))
        ).map((k) => cellOf(pc, k)),
      );
      for (const cell of outlierCells[c]) cells.add(cell); // an outlier's lone position too
      assert.equal(calibrated.keypoints[c].length / 2, cells.size, `image ${c}`);
    }
  } finally {
    gpu.destroy();
  }
});
