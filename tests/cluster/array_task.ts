/**
 * A Slurm array task of tests/cluster/slurm_test.ts: writes
 * "$SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT" to OUT/task-<id>.txt, and to
 * OUT/task-<id>.json the task's SLURM_* variables and the shard that
 * src/pipeline/shard.ts resolves from them.
 *
 * `deno run --allow-read --allow-write --allow-env tests/cluster/array_task.ts OUT`
 * @module
 */
import { shardFromEnvironment } from "../../src/pipeline/shard.ts";

const out = Deno.args[0];
const env = Deno.env.toObject();
const id = env.SLURM_ARRAY_TASK_ID;
const shard = shardFromEnvironment(env);
await Deno.writeTextFile(`${out}/task-${id}.txt`, `${id} ${env.SLURM_ARRAY_TASK_COUNT}\n`);
const slurm = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("SLURM")).sort());
await Deno.writeTextFile(`${out}/task-${id}.json`, JSON.stringify({ shard, env: slurm }, null, 1));
