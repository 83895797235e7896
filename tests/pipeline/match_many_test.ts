// Matcher.matchMany: every pair of a set with each image's features computed once,
// the same matches as Matcher.match pair by pair, and features released after use.
import assert from "node:assert/strict";
import { Gpu } from "../../src/gpu/mod.ts";
import { Matcher } from "../../src/pipeline/matcher.ts";
import { countBackboneRuns, fixture } from "../support/util.ts";

const IMAGES = [
  fixture("images/fountain_0001.png"), // 640×480
  fixture("images/fountain_0000.png"),
  fixture("images/fountain_0001.jpg"), // 1200×800 → 640×432 by the default policy
  fixture("images/fountain_0000.jpg"),
];

/**
 * A matcher on the bundled model whose backbone runs are counted from zero,
 * warmed up on both input sizes (so that the cached positional-encoding
 * tables are already in `gpu.memory().inUse`).
 */
async function countingMatcher(gpu: Gpu): Promise<{ matcher: Matcher; runs: () => number }> {
  const matcher = await Matcher.create({ gpu });
  await matcher.match(IMAGES[0], IMAGES[2]);
  return { matcher, runs: countBackboneRuns(matcher) };
}

Deno.test({
  name: "matchMany: all pairs of 4 images equal match() per pair, one backbone run per image",
  sanitizeResources: false,
  fn: async () => {
    const gpu = await Gpu.create();
    try {
      const { matcher, runs } = await countingMatcher(gpu);
      const pairs: [number, number][] = [];
      for (let a = 0; a < IMAGES.length; a++) {
        for (let b = a + 1; b < IMAGES.length; b++) pairs.push([a, b]);
      }
      const baseline = gpu.memory().inUse;
      const many = [];
      for await (const r of matcher.matchMany(IMAGES, pairs)) many.push(r);
      assert.equal(runs(), IMAGES.length);
      assert.equal(gpu.memory().inUse, baseline, "features released after their last pair");
      assert.deepEqual(many.map((r) => r.pair), pairs);
      for (const r of many) {
        const [a, b] = r.pair;
        const one = await matcher.match(IMAGES[a], IMAGES[b]);
        assert.ok(one.count > 100, `pair ${r.pair}: ${one.count} matches`);
        assert.equal(r.count, one.count);
        assert.deepEqual(r.keypoints0, one.keypoints0);
        assert.deepEqual(r.keypoints1, one.keypoints1);
        assert.deepEqual(r.confidence, one.confidence);
        assert.deepEqual(r.inputSizes, one.inputSizes);
      }
      assert.equal(runs(), IMAGES.length + 2 * pairs.length); // match() has no reuse
    } finally {
      gpu.destroy();
    }
  },
});

Deno.test({
  name: "matchMany: stopping early releases the features; bad indices are refused",
  sanitizeResources: false,
  fn: async () => {
    const gpu = await Gpu.create();
    try {
      const { matcher, runs } = await countingMatcher(gpu);
      const baseline = gpu.memory().inUse;
      // A chain: image 1 is computed once for two pairs.
      for await (const r of matcher.matchMany(IMAGES, [[0, 1], [1, 2], [2, 3]])) {
        assert.deepEqual(r.pair, [0, 1]);
        break;
      }
      assert.equal(runs(), 2);
      assert.equal(gpu.memory().inUse, baseline);
      await assert.rejects(async () => {
        for await (const _ of matcher.matchMany(IMAGES, [[0, 4]])) break;
      }, RangeError);
      assert.equal(runs(), 2);
    } finally {
      gpu.destroy();
    }
  },
});
