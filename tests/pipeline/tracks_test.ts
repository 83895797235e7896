import assert from "node:assert/strict";
import { mergeKeypoints, type PairMatches } from "../../src/pipeline/tracks.ts";
import { seededRandom } from "../support/util.ts";

const f32 = (...v: number[]) => Float32Array.from(v);
const rows = (m: Uint32Array) =>
  Array.from({ length: m.length / 2 }, (_, k) => [m[2 * k], m[2 * k + 1]]);

Deno.test("tracks: one physical point seen in three photos becomes one keypoint per photo", () => {
  const pairs: PairMatches[] = [
    { image0: 0, image1: 1, keypoints0: f32(3, 4), keypoints1: f32(10.25, 5), scores: [1] },
    { image0: 1, image1: 2, keypoints0: f32(10.75, 5.25), keypoints1: f32(20, 20), scores: [3] },
    { image0: 2, image1: 0, keypoints0: f32(20.5, 20), keypoints1: f32(3, 4.5), scores: [1] },
  ];
  const r = mergeKeypoints(pairs, { cellSize: 2 });
  // image 1: (10.25, 5) weight 1 and (10.75, 5.25) weight 3 share cell (5, 2): mean (10.625, 5.1875)
  assert.deepEqual(Array.from(r.keypoints[1]), [10.625, 5.1875]);
  assert.deepEqual(Array.from(r.keypointScores[1]), [4]);
  assert.deepEqual(Array.from(r.keypoints[0]), [3, 4.25]);
  assert.deepEqual(Array.from(r.keypoints[2]), [20.125, 20]); // (20, 20) ×3 and (20.5, 20) ×1
  assert.deepEqual(r.matches.map(rows), [[[0, 0]], [[0, 0]], [[0, 0]]]);
  assert.deepEqual(r.matchScores.map((s) => Array.from(s)), [[1], [3], [1]]);
});

Deno.test("tracks: cells start at the image corner (cell size 1 = one pixel)", () => {
  // engine convention: pixel 0 covers [−0.5, 0.5)
  const xs = [-0.5, 0.49, 0.5, 1.49, 7.9];
  const r = mergeKeypoints([{
    image0: 0,
    image1: 1,
    keypoints0: f32(...xs.flatMap((x) => [x, 0])),
    keypoints1: f32(...xs.flatMap((_, i) => [10 * i, 0])),
    scores: xs.map(() => 1),
  }], { cellSize: 1 });
  // −0.5 and 0.49 share pixel 0; 0.5 and 1.49 share pixel 1; 7.9 is pixel 8
  const kp = Array.from(r.keypoints[0]);
  assert.equal(kp.length, 6);
  [-0.005, 0, 0.995, 0, 7.9, 0].forEach((v, i) => assert.ok(Math.abs(kp[i] - v) < 1e-6, `${kp}`));
  // two matches per shared keypoint: one kept each (ties broken by the smaller index)
  assert.deepEqual(rows(r.matches[0]), [[0, 0], [1, 2], [2, 4]]);
  // cells of 4 px: [−0.5, 3.5) and [3.5, 7.5) and [7.5, 11.5)
  const r4 = mergeKeypoints([{
    image0: 0,
    image1: 1,
    keypoints0: f32(3.49, 0, 3.5, 0, 7.5, 0),
    keypoints1: f32(0, 0, 10, 0, 20, 0),
    scores: [1, 1, 1],
  }], { cellSize: 4 });
  assert.equal(r4.keypoints[0].length, 6);
});

Deno.test("tracks: keypoints numbered row by row; one match per keypoint and pair, best score first", () => {
  // image 0 cells: a1 (row 0), a2 (row 1); image 1 cells: b1 (x 50), b2 (x 60)
  const a1 = [5, 1], a2 = [1, 9], b1 = [50, 5], b2 = [60, 5];
  const m = [
    [a1, b2, 0.5],
    [a2, b2, 0.3],
    [a1, b1, 0.9],
    [a2, b1, 0.8],
    [a1, b1, 0.2], // the same two cells again: collapses
  ] as const;
  const r = mergeKeypoints([{
    image0: 0,
    image1: 1,
    keypoints0: f32(...m.flatMap((t) => t[0])),
    keypoints1: f32(...m.flatMap((t) => t[1])),
    scores: m.map((t) => t[2]),
  }], { cellSize: 2 });
  assert.deepEqual(Array.from(r.keypoints[0]), [5, 1, 1, 9]); // a1 (y 1) before a2 (y 9)
  assert.deepEqual(Array.from(r.keypoints[1]), [50, 5, 60, 5]);
  // 0.9: (a1, b1) kept; 0.8 (a2, b1) and 0.5 (a1, b2) refused; 0.3: (a2, b2) kept
  assert.deepEqual(rows(r.matches[0]), [[0, 0], [1, 1]]);
  assert.deepEqual(Array.from(r.matchScores[0]), [Math.fround(0.9), Math.fround(0.3)]);
  // total scores of the keypoints: a1 0.5 + 0.9 + 0.2, a2 0.3 + 0.8
  const ks = Array.from(r.keypointScores[0]);
  assert.ok(Math.abs(ks[0] - 1.6) < 1e-6 && Math.abs(ks[1] - 1.1) < 1e-6);
});

Deno.test("tracks: preferred matches claim keypoints first and alone place them", () => {
  // cells of 2 px: image 0 a1 [3.5, 5.5), a2 [19.5, 21.5), a3; image 1 b1, b2 [59.5, 61.5), b3, b4
  const m = [
    [[5, 1], [50, 5], 0.4, 1], // preferred: places a1 and b1
    [[5.4, 1], [60, 5], 0.9, 0], // a1 again, a better score but not preferred: refused
    [[20.5, 1], [60.5, 5], 0.7, 0], // not preferred, a2 claimed by the last match: refused
    [[40, 1], [80, 5], 0.5, 0], // not preferred, a3 and b4 free: kept
    [[21, 1], [70, 5], 0.2, 1], // preferred: places a2 and b3
  ] as const;
  const pair = {
    image0: 0,
    image1: 1,
    keypoints0: f32(...m.flatMap((t) => t[0])),
    keypoints1: f32(...m.flatMap((t) => t[1])),
    scores: m.map((t) => t[2]),
    preferred: m.map((t) => t[3]),
  };
  const r = mergeKeypoints([pair], { cellSize: 2 });
  // a1 at the preferred (5, 1), not moved towards (5.4, 1); a2 at (21, 1), not towards (20.5, 1)
  assert.deepEqual(Array.from(r.keypoints[0]), [5, 1, 21, 1, 40, 1]);
  // b2 has no preferred position: the score-weighted mean of its own, (0.9·60 + 0.7·60.5) / 1.6
  assert.deepEqual(Array.from(r.keypoints[1]), [50, 5, 60.21875, 5, 70, 5, 80, 5]);
  assert.deepEqual(rows(r.matches[0]), [[0, 0], [1, 2], [2, 3]]);
  assert.deepEqual(
    Array.from(r.keypointScores[0]),
    [0.4, 0.2, 0.5].map(Math.fround),
  );
  // without `preferred` every match is preferred: the score decides
  const plain = mergeKeypoints([{ ...pair, preferred: undefined }], { cellSize: 2 });
  assert.deepEqual(rows(plain.matches[0]), [[0, 1], [1, 2], [2, 3]]);
  assert.throws(
    () => mergeKeypoints([{ ...pair, preferred: [1] }], { cellSize: 2 }),
    /pair 0 \(images 0, 1\): 5 scores but 1 preferred flags/,
  );
});

Deno.test("tracks: the same output for any order of the pairs and of the matches", () => {
  const rnd = seededRandom(11);
  const pairs: PairMatches[] = [];
  for (const [i, j] of [[0, 1], [0, 2], [1, 2], [3, 1], [2, 3]]) {
    const n = 200;
    // points on a coarse lattice plus noise, so that cells are shared across pairs
    const k0 = new Float32Array(2 * n), k1 = new Float32Array(2 * n), s = new Float32Array(n);
    const preferred = new Uint8Array(n);
    for (let m = 0; m < n; m++) {
      preferred[m] = (rnd() + 1) / 2 < 0.7 ? 1 : 0; // rnd() is uniform in [−1, 1)
      k0[2 * m] = 4 * Math.floor(10 + 10 * rnd()) + 0.7 * rnd();
      k0[2 * m + 1] = 4 * Math.floor(10 + 10 * rnd()) + 0.7 * rnd();
      k1[2 * m] = 4 * Math.floor(10 + 10 * rnd()) + 0.7 * rnd();
      k1[2 * m + 1] = 4 * Math.floor(10 + 10 * rnd()) + 0.7 * rnd();
      s[m] = Math.round(50 + 50 * rnd()) / 100; // ties on purpose
    }
    pairs.push({ image0: i, image1: j, keypoints0: k0, keypoints1: k1, scores: s, preferred });
  }
  const shuffle = <T>(a: T[]) => {
    const b = a.slice();
    for (let i = b.length - 1; i > 0; i--) {
      const j = Math.floor(((rnd() + 1) / 2) * (i + 1));
      [b[i], b[j]] = [b[j], b[i]];
    }
    return b;
  };
  const reference = mergeKeypoints(pairs, { cellSize: 3 });
  assert.ok(reference.keypoints[1].length < 2 * 3 * 200, "cells are shared");
  for (let trial = 0; trial < 3; trial++) {
    const order = shuffle(pairs.map((_, k) => k));
    const permuted = order.map((k) => {
      const p = pairs[k];
      const ms = shuffle(Array.from({ length: p.scores.length }, (_, m) => m));
      return {
        image0: p.image0,
        image1: p.image1,
        keypoints0: Float32Array.from(
          ms.flatMap((m) => [p.keypoints0[2 * m], p.keypoints0[2 * m + 1]]),
        ),
        keypoints1: Float32Array.from(
          ms.flatMap((m) => [p.keypoints1[2 * m], p.keypoints1[2 * m + 1]]),
        ),
        scores: Float32Array.from(ms.map((m) => p.scores[m])),
        preferred: Uint8Array.from(ms.map((m) => p.preferred![m])),
      };
    });
    const r = mergeKeypoints(permuted, { cellSize: 3 });
    assert.deepEqual(r.keypoints, reference.keypoints);
    assert.deepEqual(r.keypointScores, reference.keypointScores);
    order.forEach((k, i) => {
      assert.deepEqual(r.matches[i], reference.matches[k]);
      assert.deepEqual(r.matchScores[i], reference.matchScores[k]);
    });
  }
  // and every keypoint is used at most once per pair
  for (const m of reference.matches) {
    const r = rows(m);
    assert.equal(new Set(r.map((x) => x[0])).size, r.length);
    assert.equal(new Set(r.map((x) => x[1])).size, r.length);
  }
});

Deno.test("tracks: a cap keeps the keypoints of largest total score; zero scores average plainly", () => {
  const pairs: PairMatches[] = [{
    image0: 0,
    image1: 1,
    keypoints0: f32(0, 0, 0.2, 0, 10, 10, 20, 20),
    keypoints1: f32(0, 0, 5, 5, 10, 10, 20, 20),
    scores: [0.25, 0.25, 0.75, 0.125],
  }];
  const r = mergeKeypoints(pairs, { cellSize: 1, maxKeypoints: 2 });
  // image 0: cells (0,0) total 0.5, (10,10) 0.75, (20,20) 0.125 → keeps (0,0) and (10,10)
  assert.deepEqual(Array.from(r.keypoints[0]), [0.1, 0, 10, 10].map(Math.fround));
  // image 1: (0,0) 0.25, (5,5) 0.25, (10,10) 0.75, (20,20) 0.125 → (5,5) ties (0,0): cell order wins
  assert.deepEqual(Array.from(r.keypoints[1]), [0, 0, 10, 10]);
  assert.deepEqual(rows(r.matches[0]), [[0, 0], [1, 1]]);
  const z = mergeKeypoints([{
    image0: 0,
    image1: 2,
    keypoints0: f32(1, 1, 2, 1),
    keypoints1: f32(5, 5, 6, 5),
    scores: [0, 0],
  }], {
    cellSize: 4,
    numImages: 4,
  });
  assert.deepEqual(Array.from(z.keypoints[0]), [1.5, 1]);
  assert.deepEqual(z.keypoints.map((k) => k.length), [2, 0, 2, 0]);
  assert.deepEqual(rows(z.matches[0]), [[0, 0]]);
});

Deno.test("tracks: bad input is refused, naming the pair", () => {
  const ok = { image0: 0, image1: 1, keypoints0: f32(1, 1), keypoints1: f32(2, 2), scores: [1] };
  assert.throws(() => mergeKeypoints([ok], { cellSize: 0 }), /cellSize 0/);
  assert.throws(() => mergeKeypoints([ok], { cellSize: 1, maxKeypoints: -1 }), /maxKeypoints -1/);
  assert.throws(
    () => mergeKeypoints([{ ...ok, image1: 0 }], { cellSize: 1 }),
    /pair 0 \(images 0, 0\): an image paired with itself/,
  );
  assert.throws(
    () => mergeKeypoints([ok, { ...ok, scores: [1, 2] }], { cellSize: 1 }),
    /pair 1 .*2 scores but 1 and 1 positions/,
  );
  assert.throws(
    () => mergeKeypoints([{ ...ok, keypoints1: f32(NaN, 2) }], { cellSize: 1 }),
    /match 0: position \(NaN, 2\)/,
  );
  assert.throws(
    () => mergeKeypoints([{ ...ok, scores: [-1] }], { cellSize: 1 }),
    /match 0: score -1/,
  );
  assert.throws(
    () => mergeKeypoints([ok], { cellSize: 1, numImages: 1 }),
    /image index 1 ≥ numImages 1/,
  );
  assert.deepEqual(mergeKeypoints([], { cellSize: 1 }).keypoints, []);
});
