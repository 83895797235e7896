/**
 * A stand-in for `deno task reconstruct` with its sharding interface, to run
 * the Slurm recipe (deploy/slurm/) on a real Slurm before the real command
 * exists: the pairs are all pairs of the files in IMAGES (sorted by name);
 * "matching" a pair records it.
 *
 *   fake_reconstruct.ts IMAGES --out DIR [--shard I/N | auto | auto/N] [--tag T]
 *     sharded (from --shard or the environment): writes DIR/shards/<shard>.json
 *     and stops; unsharded: writes DIR/result.json
 *   fake_reconstruct.ts IMAGES --out DIR --merge [--tag T]
 *     checks that every shard of DIR/shards is there and complete, writes
 *     DIR/result.json as the unsharded run does
 *
 * Errors are one line on stderr with exit code 1. FAKE_FAIL_SHARD=I makes
 * shard I fail.
 * @module
 */
import { parseArgs } from "node:util";
import {
  memoryOrder,
  type Pair,
  parseShardName,
  partitionFigures,
  partitionPairs,
  shardFromEnvironment,
  shardName,
} from "../../src/pipeline/shard.ts";

interface ShardFile {
  images: string[];
  tag: string;
  shard: { index: number; count: number };
  source: string;
  pairs: number[];
}

function fail(message: string): never {
  console.error(`error: ${message}`);
  Deno.exit(1);
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    out: { type: "string" },
    shard: { type: "string" },
    merge: { type: "boolean", default: false },
    tag: { type: "string", default: "" },
  },
});
const [imagesDir] = positionals;
const out = values.out ?? fail("--out is required");
const images = [...Deno.readDirSync(imagesDir)].filter((e) => e.isFile).map((e) => e.name).sort();
const pairs: Pair[] = [];
for (let i = 0; i < images.length; i++) {
  for (let j = i + 1; j < images.length; j++) pairs.push([i, j]);
}
const writeJson = (path: string, value: unknown) => {
  Deno.writeTextFileSync(`${path}.tmp`, JSON.stringify(value) + "\n");
  Deno.renameSync(`${path}.tmp`, path);
};
const result = (positions: number[]) => ({
  images,
  tag: values.tag,
  pairs: positions.toSorted((a, b) => a - b).map((k) => pairs[k].map((i) => images[i])),
});
Deno.mkdirSync(out, { recursive: true });

if (values.merge) {
  const dir = `${out}/shards`;
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".json"));
  if (files.length === 0) fail(`${dir}: no shard results`);
  const shards = files.map((name) => ({
    name,
    data: JSON.parse(Deno.readTextFileSync(`${dir}/${name}`)) as ShardFile,
  }));
  const count = shards[0].data.shard.count;
  for (const { name, data } of shards) {
    if (parseShardName(name)?.count !== count) fail(`${dir}/${name}: not a shard of ${count}`);
    if (JSON.stringify(data.images) !== JSON.stringify(images) || data.tag !== values.tag) {
      fail(`${dir}/${name}: written for other images or settings`);
    }
  }
  const have = new Set(shards.map((s) => s.data.shard.index));
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !have.has(i));
  if (missing.length > 0) {
    fail(`${dir}: missing ${missing.map((index) => shardName({ index, count })).join(", ")}`);
  }
  const seen = new Set<number>();
  for (const { data } of shards) {
    for (const k of data.pairs) {
      if (seen.has(k)) fail(`pair ${k} in two shards`);
      seen.add(k);
    }
  }
  if (seen.size !== pairs.length) fail(`${pairs.length - seen.size} pairs in no shard`);
  writeJson(`${out}/result.json`, result([...seen]));
  console.log(`merged ${count} shards: ${seen.size} pairs of ${images.length} images`);
} else {
  let shard;
  try {
    shard = shardFromEnvironment(Deno.env.toObject(), values.shard);
  } catch (e) {
    fail((e as Error).message);
  }
  if (shard !== null && Deno.env.get("FAKE_FAIL_SHARD") === String(shard.index)) {
    fail(`shard ${shard.index}: failing as FAKE_FAIL_SHARD asks`);
  }
  if (shard === null) {
    writeJson(`${out}/result.json`, result(pairs.map((_, k) => k)));
    console.log(`unsharded: ${pairs.length} pairs of ${images.length} images`);
  } else {
    const partition = partitionPairs(pairs, images.length, shard.count);
    const mine = memoryOrder(pairs, partition[shard.index]);
    const figures = partitionFigures(pairs, partition);
    Deno.mkdirSync(`${out}/shards`, { recursive: true });
    const file: ShardFile = {
      images,
      tag: values.tag,
      shard: { index: shard.index, count: shard.count },
      source: shard.description,
      pairs: mine,
    };
    writeJson(`${out}/shards/${shardName(shard)}.json`, file);
    console.log(
      `shard ${shard.index}/${shard.count} (${shard.description}): ${mine.length} of ${pairs.length} pairs, backbone on ${
        figures.shards[shard.index].images
      } of ${images.length} images`,
    );
  }
}
