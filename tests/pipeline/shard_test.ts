/** src/pipeline/shard.ts: --shard parsing, the engines' variables, the partition of pairs. */
import assert from "node:assert/strict";
import {
  imagesTouched,
  memoryOrder,
  type Pair,
  parseShard,
  parseShardName,
  partitionFigures,
  partitionPairs,
  peakLiveImages,
  SHARD_ENGINES,
  ShardError,
  shardFromEnvironment,
  shardName,
} from "../../src/pipeline/shard.ts";
import { seededRandom } from "../../testing/random.ts";
import { exhaustivePairs } from "../../src/pipeline/pair_selection.ts";

/** Asserts that `f` throws a one-line ShardError whose message contains every part. */
function assertShardError(f: () => unknown, ...parts: string[]) {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ShardError, `not a ShardError: ${e}`);
    assert.ok(!e.message.includes("\n"), `more than one line: ${e.message}`);
    for (const part of parts) assert.ok(e.message.includes(part), `"${e.message}" lacks "${part}"`);
    return true;
  });
}

Deno.test("parseShard: I/N with I from 0 to N−1", () => {
  assert.deepEqual(parseShard("0/1"), { index: 0, count: 1 });
  assert.deepEqual(parseShard("2/8"), { index: 2, count: 8 });
  assert.deepEqual(parseShard("7/8"), { index: 7, count: 8 });
  assert.deepEqual(parseShard("007/010"), { index: 7, count: 10 });
});

Deno.test("parseShard: one-line errors naming the value", () => {
  assertShardError(() => parseShard("3/2"), "--shard 3/2", "numbered from 0", "0…1");
  assertShardError(() => parseShard("2/2"), "--shard 2/2", "0…1");
  assertShardError(() => parseShard("1/1"), "--shard 1/1", "must be 0 for N = 1");
  assertShardError(() => parseShard("0/0"), "--shard 0/0", "at least 1");
  for (
    const bad of ["-1/2", "a/b", "1.5/2", "1/2.0", "2", "1/2/3", "", "/4", "1/", "+1/2", "1e1/20"]
  ) {
    assertShardError(() => parseShard(bad), `--shard ${bad}:`, "I/N");
  }
  assertShardError(() => parseShard("9/4", "DENO_LOFTR_SHARD"), "DENO_LOFTR_SHARD 9/4");
});

Deno.test("shardFromEnvironment: unsharded and explicit", () => {
  assert.equal(shardFromEnvironment({}), null);
  assert.equal(shardFromEnvironment({ SLURM_ARRAY_TASK_ID: "" }), null); // empty = unset
  const r = shardFromEnvironment({ SLURM_ARRAY_TASK_ID: "1", CLOUD_RUN_TASK_INDEX: "0" }, "2/8")!;
  assert.deepEqual(
    { index: r.index, count: r.count, source: r.source, description: r.description },
    { index: 2, count: 8, source: "option", description: "--shard 2/8" },
  );
  assert.deepEqual(r.ignored, ["SLURM_ARRAY_TASK_ID=1", "CLOUD_RUN_TASK_INDEX=0"]);
  assertShardError(() => shardFromEnvironment({}, "3/2"), "--shard 3/2");
  assertShardError(() => shardFromEnvironment({}, "auto"), "--shard auto", "SLURM_ARRAY_TASK_ID");
  assertShardError(() => shardFromEnvironment({}, "auto/4"), "--shard auto/4", "no shard index");
  assertShardError(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: "0" }, "auto/0"), "auto/0");
  assertShardError(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: "0" }, "auto/x"), "auto/x");
  assertShardError(
    () => shardFromEnvironment({ DENO_LOFTR_SHARD_COUNT: "4" }),
    "DENO_LOFTR_SHARD_COUNT=4",
    "no shard index",
  );
});

Deno.test("shardFromEnvironment: Slurm job array", () => {
  // What Debian 12's Slurm 22.05 gives task 2 of `sbatch --array=0-3`.
  const env = {
    SLURM_ARRAY_JOB_ID: "7",
    SLURM_ARRAY_TASK_ID: "2",
    SLURM_ARRAY_TASK_COUNT: "4",
    SLURM_ARRAY_TASK_MIN: "0",
    SLURM_ARRAY_TASK_MAX: "3",
    SLURM_ARRAY_TASK_STEP: "1",
  };
  const r = shardFromEnvironment(env)!;
  assert.deepEqual([r.index, r.count, r.source], [2, 4, "slurm"]);
  assert.equal(
    r.description,
    "SLURM_ARRAY_TASK_ID=2, SLURM_ARRAY_TASK_COUNT=4 (Slurm job array)",
  );
  assert.deepEqual(r.ignored, []);
  assert.deepEqual(
    { ...shardFromEnvironment(env, "auto")! },
    { ...r },
  );
  // An older Slurm without SLURM_ARRAY_TASK_COUNT: N from MIN/MAX.
  const { SLURM_ARRAY_TASK_COUNT: _, ...old } = env;
  assert.equal(shardFromEnvironment(old)!.count, 4);
  // `--array=1-8`: refused without an explicit N (IDs are the shard numbers).
  const shifted = {
    SLURM_ARRAY_TASK_ID: "5",
    SLURM_ARRAY_TASK_COUNT: "8",
    SLURM_ARRAY_TASK_MIN: "1",
    SLURM_ARRAY_TASK_MAX: "8",
    SLURM_ARRAY_TASK_STEP: "1",
  };
  assertShardError(
    () => shardFromEnvironment(shifted),
    "SLURM_ARRAY_TASK_ID=5",
    "array 1-8",
    "--array=0-7",
  );
  // With N given the ID is the shard: 5 of 9 is fine, 8 of 8 is not.
  assert.deepEqual(
    [
      shardFromEnvironment(shifted, "auto/9")!.index,
      shardFromEnvironment(shifted, "auto/9")!.count,
    ],
    [5, 9],
  );
  assertShardError(
    () => shardFromEnvironment({ ...shifted, SLURM_ARRAY_TASK_ID: "8" }, "auto/8"),
    "SLURM_ARRAY_TASK_ID=8",
    "--shard auto/8",
    "0…7",
  );
  // Re-running shard 2 of 4 alone: `sbatch --array=2 …` has MIN = MAX = 2, COUNT = 1.
  const rerun = {
    SLURM_ARRAY_TASK_ID: "2",
    SLURM_ARRAY_TASK_COUNT: "1",
    SLURM_ARRAY_TASK_MIN: "2",
    SLURM_ARRAY_TASK_MAX: "2",
    SLURM_ARRAY_TASK_STEP: "1",
  };
  assertShardError(() => shardFromEnvironment(rerun), "array 2-2", "auto/N");
  const again = shardFromEnvironment(rerun, "auto/4")!;
  assert.deepEqual([again.index, again.count], [2, 4]);
  assert.equal(shardFromEnvironment({ ...rerun, DENO_LOFTR_SHARD_COUNT: "4" })!.count, 4);
  // A stepped array.
  assertShardError(
    () =>
      shardFromEnvironment({
        SLURM_ARRAY_TASK_ID: "2",
        SLURM_ARRAY_TASK_COUNT: "3",
        SLURM_ARRAY_TASK_MIN: "0",
        SLURM_ARRAY_TASK_MAX: "4",
        SLURM_ARRAY_TASK_STEP: "2",
      }),
    "array 0-4:2",
  );
  assertShardError(
    () => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: "x1", SLURM_ARRAY_TASK_COUNT: "2" }),
    "SLURM_ARRAY_TASK_ID=x1",
    "not a whole number",
  );
  assertShardError(
    () => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: "1" }),
    "SLURM_ARRAY_TASK_ID=1",
    "SLURM_ARRAY_TASK_COUNT is not set",
  );
});

Deno.test("shardFromEnvironment: Kubernetes Indexed Job", () => {
  assertShardError(
    () => shardFromEnvironment({ JOB_COMPLETION_INDEX: "3" }),
    "JOB_COMPLETION_INDEX=3",
    "DENO_LOFTR_SHARD_COUNT",
    "--shard auto/N",
  );
  const r = shardFromEnvironment({ JOB_COMPLETION_INDEX: "3", DENO_LOFTR_SHARD_COUNT: "4" })!;
  assert.deepEqual([r.index, r.count, r.source], [3, 4, "kubernetes"]);
  assert.equal(
    r.description,
    "JOB_COMPLETION_INDEX=3, DENO_LOFTR_SHARD_COUNT=4 (Kubernetes Indexed Job)",
  );
  const given = shardFromEnvironment({ JOB_COMPLETION_INDEX: "3" }, "auto/4")!;
  assert.deepEqual([given.index, given.count], [3, 4]);
  assertShardError(
    () => shardFromEnvironment({ JOB_COMPLETION_INDEX: "3", DENO_LOFTR_SHARD_COUNT: "3" }),
    "JOB_COMPLETION_INDEX=3",
    "DENO_LOFTR_SHARD_COUNT=3",
    "0…2",
  );
  assertShardError(
    () => shardFromEnvironment({ JOB_COMPLETION_INDEX: "0", DENO_LOFTR_SHARD_COUNT: "0" }),
    "DENO_LOFTR_SHARD_COUNT=0",
    "at least 1",
  );
  assertShardError(
    () => shardFromEnvironment({ JOB_COMPLETION_INDEX: "0", DENO_LOFTR_SHARD_COUNT: "four" }),
    "DENO_LOFTR_SHARD_COUNT=four",
  );
});

Deno.test("shardFromEnvironment: AWS Batch, Cloud Run, our own variables, precedence", () => {
  const aws = shardFromEnvironment({
    AWS_BATCH_JOB_ARRAY_INDEX: "1",
    AWS_BATCH_JOB_ARRAY_SIZE: "2",
  })!;
  assert.deepEqual([aws.index, aws.count, aws.source], [1, 2, "aws-batch"]);
  assertShardError(
    () => shardFromEnvironment({ AWS_BATCH_JOB_ARRAY_INDEX: "2", AWS_BATCH_JOB_ARRAY_SIZE: "2" }),
    "AWS_BATCH_JOB_ARRAY_INDEX=2",
    "AWS_BATCH_JOB_ARRAY_SIZE=2",
  );
  const run = shardFromEnvironment({ CLOUD_RUN_TASK_INDEX: "0", CLOUD_RUN_TASK_COUNT: "1" })!;
  assert.deepEqual([run.index, run.count, run.source], [0, 1, "cloud-run"]);
  assertShardError(
    () => shardFromEnvironment({ CLOUD_RUN_TASK_INDEX: "0", CLOUD_RUN_TASK_COUNT: "0" }),
    "CLOUD_RUN_TASK_COUNT=0",
  );
  const ours = shardFromEnvironment({ DENO_LOFTR_SHARD_INDEX: "5", DENO_LOFTR_SHARD_COUNT: "6" })!;
  assert.deepEqual([ours.index, ours.count, ours.source], [5, 6, "deno-loftr"]);
  assertShardError(
    () => shardFromEnvironment({ DENO_LOFTR_SHARD_INDEX: "5" }),
    "DENO_LOFTR_SHARD_INDEX=5",
  );
  // The first engine in SHARD_ENGINES order wins; the others are reported.
  const both = shardFromEnvironment({
    CLOUD_RUN_TASK_INDEX: "0",
    CLOUD_RUN_TASK_COUNT: "2",
    SLURM_ARRAY_TASK_ID: "1",
    SLURM_ARRAY_TASK_COUNT: "2",
  })!;
  assert.deepEqual([both.index, both.source, both.ignored], [1, "slurm", [
    "CLOUD_RUN_TASK_INDEX=0",
  ]]);
  assert.deepEqual(SHARD_ENGINES.map((e) => e.index), [
    "DENO_LOFTR_SHARD_INDEX",
    "SLURM_ARRAY_TASK_ID",
    "JOB_COMPLETION_INDEX",
    "AWS_BATCH_JOB_ARRAY_INDEX",
    "CLOUD_RUN_TASK_INDEX",
  ]);
});

Deno.test("shardName and parseShardName", () => {
  assert.equal(shardName({ index: 0, count: 1 }), "shard-0-of-1");
  assert.equal(shardName({ index: 3, count: 16 }), "shard-03-of-16");
  assert.equal(shardName({ index: 9, count: 10 }), "shard-9-of-10");
  assert.equal(shardName({ index: 10, count: 11 }), "shard-10-of-11");
  assert.deepEqual(parseShardName("shard-03-of-16.jsonl"), { index: 3, count: 16 });
  assert.deepEqual(parseShardName("shard-0-of-1"), { index: 0, count: 1 });
  for (
    const bad of [
      "shard-3-of-16",
      "shard-16-of-16",
      "shard-0-of-0",
      "x-shard-0-of-1",
      "shard-1-of-2x",
    ]
  ) {
    assert.equal(parseShardName(bad), null, bad);
  }
});

Deno.test("partitionPairs: hand-computed cases", () => {
  // All 6 pairs of 4 images in 2 shards: cutting on the first image or on the
  // second touches 4 + 3 images either way; the first coordinate wins the tie.
  const four = exhaustivePairs(4);
  assert.deepEqual(partitionPairs(four, 4, 2), [[0, 1, 2], [3, 4, 5]]);
  assert.deepEqual(partitionPairs(four, 4, 3), [[0, 1], [2, 3], [4, 5]]);
  assert.deepEqual(partitionPairs(four, 4, 1), [[0, 1, 2, 3, 4, 5]]);
  // More shards than pairs: the last ones are empty.
  assert.deepEqual(partitionPairs([[0, 1], [1, 2]], 3, 4), [[0], [], [1], []]);
  assert.deepEqual(partitionPairs([], 0, 2), [[], []]);
  // A chain 0-1-…-8 in 2 shards: images 0…4 and 4…8.
  const chain: Pair[] = Array.from({ length: 8 }, (_, i) => [i, i + 1]);
  const halves = partitionPairs(chain, 9, 2);
  assert.deepEqual(halves, [[0, 1, 2, 3], [4, 5, 6, 7]]);
  const figures = partitionFigures(chain, halves);
  assert.deepEqual(figures.shards, [{ pairs: 4, images: 5 }, { pairs: 4, images: 5 }]);
  assert.deepEqual([figures.unsharded, figures.sharded], [9, 10]);
  assert.equal(figures.fraction, 10 / 9);
  // Orientation does not change the partition: (j, i) is the point (i, j).
  const flipped: Pair[] = chain.map(([i, j]) => [j, i]);
  assert.deepEqual(partitionPairs(flipped, 9, 2), halves);
  // The cut picks the coordinate that touches fewer images: pairs of image 0
  // with 1…4 and of 5 with 6…9, listed interleaved, split as the two stars.
  const stars: Pair[] = [[0, 1], [5, 6], [0, 2], [5, 7], [0, 3], [5, 8], [0, 4], [5, 9]];
  assert.deepEqual(partitionPairs(stars, 10, 2), [[0, 2, 4, 6], [1, 3, 5, 7]]);
});

Deno.test("partitionPairs: bad input", () => {
  assert.throws(() => partitionPairs([[0, 1]], 2, 0), /shard count 0/);
  assert.throws(() => partitionPairs([[0, 1]], 2, 1.5), /shard count 1.5/);
  assert.throws(() => partitionPairs([[0, 2]], 2, 1), /pair 0 \[0, 2\]: no such image among 2/);
  assert.throws(() => partitionPairs([[0, 1], [1, 1]], 2, 1), /pair 1 \[1, 1\]: an image paired/);
  assert.throws(() => partitionPairs([[0, -1]], 2, 1), /pair 0 \[0, -1\]/);
});

Deno.test("partitionPairs: invariants on random pair lists", () => {
  const random = seededRandom(13);
  for (let trial = 0; trial < 40; trial++) {
    const n = 2 + Math.floor((random() + 1) * 30);
    const pairs: Pair[] = [];
    const p = Math.floor((random() + 1) * 150);
    for (let k = 0; k < p; k++) {
      const i = Math.floor((random() + 1) / 2 * n), j = Math.floor((random() + 1) / 2 * n);
      if (i !== j) pairs.push([i, j]); // duplicates allowed
    }
    const count = 1 + Math.floor((random() + 1) / 2 * 17);
    const partition = partitionPairs(pairs, n, count);
    assert.equal(partition.length, count);
    // Every position exactly once, ascending within a shard.
    const seen = new Uint8Array(pairs.length);
    for (const shard of partition) {
      for (let t = 0; t < shard.length; t++) {
        assert.equal(seen[shard[t]], 0, `position ${shard[t]} twice`);
        seen[shard[t]] = 1;
        if (t > 0) assert.ok(shard[t] > shard[t - 1]);
      }
    }
    assert.ok(seen.every((x) => x === 1), "a pair in no shard");
    // Balanced: within one pair per level of bisection of P/N.
    const levels = Math.ceil(Math.log2(count));
    for (const shard of partition) {
      assert.ok(Math.abs(shard.length - pairs.length / count) <= levels + 1, `${shard.length}`);
    }
    // Deterministic, and the same from a copy of the input.
    assert.deepEqual(partitionPairs(pairs.map(([i, j]) => [i, j]), n, count), partition);
    // A shard never touches more images than there are.
    const figures = partitionFigures(pairs, partition);
    for (const s of figures.shards) assert.ok(s.images <= Math.min(n, 2 * s.pairs));
    // memoryOrder is a permutation of each shard.
    for (const shard of partition) {
      assert.deepEqual(memoryOrder(pairs, shard).toSorted((a, b) => a - b), shard);
    }
  }
});

Deno.test("partitionPairs: all pairs are grouped in blocks of images", () => {
  // Backbone runs of all shards over n (bench/shard_partition.ts has the table):
  // about √(2N) for the exhaustive pairs, against N for no grouping.
  const expected: Record<number, number> = { 1: 1, 2: 1.71, 4: 2.52, 8: 3.71, 16: 5.49 };
  const pairs = exhaustivePairs(100);
  for (const [count, fraction] of Object.entries(expected)) {
    const figures = partitionFigures(pairs, partitionPairs(pairs, 100, Number(count)));
    assert.equal(figures.fraction.toFixed(2), fraction.toFixed(2), `N = ${count}`);
    const sizes = figures.shards.map((s) => s.pairs);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1 + Math.log2(Number(count)));
  }
});

Deno.test("memoryOrder and peakLiveImages: hand-computed cases", () => {
  // Every pair of 4 images: any order holds all 4 at some point.
  const four = exhaustivePairs(4);
  assert.deepEqual(memoryOrder(four), [0, 1, 2, 3, 4, 5]);
  assert.equal(peakLiveImages(four, [0, 1, 2, 3, 4, 5]), 4);
  // Images {0, 1} against {2…6}, listed row by row: row order holds 0 or 1
  // and all of 2…6 (6); the memory order runs column by column (3).
  const block: Pair[] = [];
  for (const i of [0, 1]) for (let j = 2; j <= 6; j++) block.push([i, j]);
  assert.equal(peakLiveImages(block, block.map((_, k) => k)), 6);
  const order = memoryOrder(block);
  assert.deepEqual(order, [0, 5, 1, 6, 2, 7, 3, 8, 4, 9]);
  assert.equal(peakLiveImages(block, order), 3);
  // Orientation is kept: the order is of positions.
  assert.deepEqual(order.map((k) => block[k]).slice(0, 2), [[0, 2], [1, 2]]);
  // A chain listed backwards is run from one end: 2 alive at a time.
  const chain: Pair[] = Array.from({ length: 8 }, (_, i) => [7 - i, 8 - i]);
  const chainOrder = memoryOrder(chain);
  assert.deepEqual(chainOrder, [7, 6, 5, 4, 3, 2, 1, 0]);
  assert.equal(peakLiveImages(chain, chainOrder), 2);
  // A subset of positions.
  assert.deepEqual(memoryOrder(block, [9, 0]), [0, 9]);
  assert.equal(imagesTouched(block, [0, 9]), 4);
  assert.throws(() => memoryOrder(block, [10]), /position 10: no such pair among 10/);
  assert.throws(() => memoryOrder([[2, 2]]), /pair 0 \[2,2\]: an image paired with itself/);
});

Deno.test("memoryOrder bounds the images alive in a shard of all pairs", () => {
  const pairs = exhaustivePairs(60);
  for (const shard of partitionPairs(pairs, 60, 8)) {
    const ordered = peakLiveImages(pairs, memoryOrder(pairs, shard));
    const listed = peakLiveImages(pairs, shard);
    assert.ok(ordered <= listed, `${ordered} > ${listed}`);
    assert.ok(ordered <= imagesTouched(pairs, shard));
  }
});
