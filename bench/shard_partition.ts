/**
 * The share of backbone runs of a sharded run (src/pipeline/shard.ts): for
 * all pairs of n images split into N shards, the backbone runs of all shards
 * together over the unsharded run's n, against two references:
 * - contiguous: the pair list in row order cut into N equal runs (no
 *   grouping by images);
 * - bound: Σ over shards of the fewest images that can hold that shard's
 *   pairs (k with k(k−1)/2 ≥ pairs), the least any partition can do.
 * Also the slowest shard's pairs over P/N, the most images one shard holds
 * alive in `matchMany` in the memory order and the time to partition.
 *
 * `deno run bench/shard_partition.ts [n…] [--shards 1,2,4,8,16]`; markdown
 * table on stdout.
 * @module
 */
import {
  memoryOrder,
  partitionFigures,
  partitionPairs,
  peakLiveImages,
} from "../src/pipeline/shard.ts";
import { exhaustivePairs } from "../src/pipeline/pair_selection.ts";

/** Fewest images whose pairs number at least p. */
function fewestImages(p: number): number {
  if (p === 0) return 0;
  let k = Math.ceil((1 + Math.sqrt(1 + 8 * p)) / 2) - 1;
  while ((k * (k - 1)) / 2 < p) k++;
  return k;
}

const args = [...Deno.args];
let shardCounts = [1, 2, 4, 8, 16];
const at = args.indexOf("--shards");
if (at >= 0) {
  shardCounts = args[at + 1].split(",").map(Number);
  args.splice(at, 2);
}
const sizes = args.length > 0 ? args.map(Number) : [11, 25, 100, 1000];
const rows = [
  "| images n | pairs | shards N | backbone runs / n | contiguous / n | bound / n | slowest shard / (P/N) | peak alive (memory order) | peak alive (row order) | partition ms |",
  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
];
for (const n of sizes) {
  const pairs = exhaustivePairs(n);
  for (const N of shardCounts) {
    const t0 = performance.now();
    const partition = partitionPairs(pairs, n, N);
    const ms = performance.now() - t0;
    const figures = partitionFigures(pairs, partition);
    const contiguous = partitionFigures(
      pairs,
      Array.from({ length: N }, (_, s) => {
        const a = Math.round((s * pairs.length) / N), b = Math.round(((s + 1) * pairs.length) / N);
        return Array.from({ length: b - a }, (_, k) => a + k);
      }),
    );
    const bound = figures.shards.reduce((s, x) => s + fewestImages(x.pairs), 0);
    const slowest = Math.max(...figures.shards.map((s) => s.pairs)) / (pairs.length / N);
    let peakMemory = 0, peakRow = 0;
    {
      for (const positions of partition) {
        peakMemory = Math.max(peakMemory, peakLiveImages(pairs, memoryOrder(pairs, positions)));
        peakRow = Math.max(peakRow, peakLiveImages(pairs, positions));
      }
    }
    rows.push(
      `| ${n} | ${pairs.length} | ${N} | ${figures.fraction.toFixed(2)} | ${
        contiguous.fraction.toFixed(2)
      } | ${(bound / n).toFixed(2)} | ${slowest.toFixed(3)} | ${peakMemory || "–"} | ${
        peakRow || "–"
      } | ${ms.toFixed(0)} |`,
    );
  }
}
console.log(rows.join("\n"));
