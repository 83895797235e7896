/**
 * Job arrays on a real Slurm: a one-node cluster on localhost
 * (tests/support/slurm.ts) runs an array of `deno run` tasks and a merge job
 * after them (--dependency=afterok), then the recipe deploy/slurm/submit.sh
 * with a stand-in for `deno task reconstruct` (tests/cluster/fake_reconstruct.ts),
 * whose merged result must equal the unsharded run's. Skipped where Debian's
 * slurm-wlm and munge are not installed, or not as root.
 */
import assert from "node:assert/strict";
import { isRoot, LocalSlurm, missingSlurm } from "../support/slurm.ts";

const missing = missingSlurm();
const skip = missing !== null ? "slurm-wlm not installed" : !isRoot() ? "slurmd needs root" : null;
const here = new URL(".", import.meta.url).pathname;
const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const deno = Deno.execPath();

Deno.test({
  name: skip === null ? "slurm: job array and afterok merge" : `slurm [skipped: ${skip}]`,
  ignore: skip !== null,
  async fn(t) {
    const started = performance.now();
    const slurm = await LocalSlurm.start();
    const ready = performance.now();
    const work = await Deno.makeTempDir({ prefix: "deno-loftr-slurm-test-" });
    try {
      await t.step("array of 3 deno tasks, then a merge with --dependency=afterok", async () => {
        const t0 = performance.now();
        const script = `${work}/task.sh`;
        await Deno.writeTextFile(
          script,
          `#!/bin/bash\nexec "${deno}" run --allow-read --allow-write --allow-env "${here}array_task.ts" "$1"\n`,
        );
        const out = `${work}/array`;
        await Deno.mkdir(out);
        const array = await slurm.sbatch(script, [out], [
          "--array=0-2",
          `--output=${out}/slurm-%A_%a.out`,
        ]);
        const merge = await slurm.sbatch("--wrap", [`cat ${out}/task-*.txt > ${out}/all.txt`], [
          `--dependency=afterok:${array}`,
          `--output=${out}/merge-%j.out`,
        ]);
        const jobs = await slurm.waitFor([array, merge], 60_000);
        const tasks = jobs.filter((j) => j.arrayJobId === array).map((j) => j.arrayTaskId);
        assert.deepEqual(tasks, ["0", "1", "2"]);
        for (const j of jobs) {
          assert.equal(j.state, "COMPLETED", `${j.jobId}: ${j.state} ${j.reason}`);
        }
        assert.equal(await Deno.readTextFile(`${out}/all.txt`), "0 3\n1 3\n2 3\n");
        // What a task gets from Slurm, and what src/pipeline/shard.ts makes of it.
        const task1 = JSON.parse(await Deno.readTextFile(`${out}/task-1.json`));
        assert.deepEqual(
          {
            id: task1.env.SLURM_ARRAY_TASK_ID,
            count: task1.env.SLURM_ARRAY_TASK_COUNT,
            min: task1.env.SLURM_ARRAY_TASK_MIN,
            max: task1.env.SLURM_ARRAY_TASK_MAX,
            step: task1.env.SLURM_ARRAY_TASK_STEP,
            job: task1.env.SLURM_ARRAY_JOB_ID,
          },
          { id: "1", count: "3", min: "0", max: "2", step: "1", job: String(array) },
        );
        assert.deepEqual(
          [task1.shard.index, task1.shard.count, task1.shard.source],
          [1, 3, "slurm"],
        );
        console.log(
          `  cluster ready in ${(ready - started).toFixed(0)} ms; array + merge in ${
            (performance.now() - t0).toFixed(0)
          } ms`,
        );
      });

      await t.step(
        "deploy/slurm/submit.sh: 3 shards and the merge equal the unsharded run",
        async () => {
          const t0 = performance.now();
          const images = `${work}/images`;
          await Deno.mkdir(images);
          for (let i = 0; i < 7; i++) await Deno.writeTextFile(`${images}/img_${i}.jpg`, "");
          // A checkout whose `deno task reconstruct` is the stand-in.
          const checkout = `${work}/checkout`;
          await Deno.mkdir(checkout);
          const task =
            `"${deno}" run --allow-read --allow-write --allow-env ${here}fake_reconstruct.ts`;
          await Deno.writeTextFile(
            `${checkout}/deno.json`,
            JSON.stringify({ tasks: { reconstruct: task } }),
          );
          const env = { ...slurm.env, GPUS_PER_TASK: "0", DENO_LOFTR_REPO: checkout, DENO: deno };
          const submit = await new Deno.Command(`${repo}/deploy/slurm/submit.sh`, {
            args: [images, `${work}/out`, "3", "--tag", "t1"],
            env,
            clearEnv: true,
          }).output();
          const said = new TextDecoder().decode(submit.stdout);
          assert.ok(submit.success, new TextDecoder().decode(submit.stderr));
          const shards = Number(/^shards: job (\d+), array 0-2 /m.exec(said)?.[1]);
          const merge = Number(/^merge: +job (\d+),/m.exec(said)?.[1]);
          assert.ok(shards > 0 && merge > 0, said);
          const jobs = await slurm.waitFor([shards, merge], 60_000);
          for (const j of jobs) {
            assert.equal(
              j.state,
              "COMPLETED",
              `${j.jobId} ${j.state}: ${await logs(`${work}/out/logs`)}`,
            );
          }
          const names = [...Deno.readDirSync(`${work}/out/shards`)].map((e) => e.name).sort();
          assert.deepEqual(names, ["shard-0-of-3.json", "shard-1-of-3.json", "shard-2-of-3.json"]);
          const log0 = await Deno.readTextFile(`${work}/out/logs/shard-${shards}_0.out`);
          assert.match(
            log0,
            /shard 0\/3 \(SLURM_ARRAY_TASK_ID=0, N from --shard auto\/3 \(Slurm job array\)\): \d+ of 21 pairs/,
          );
          // The same command unsharded, here.
          const plain = await new Deno.Command(deno, {
            args: ["task", "reconstruct", images, "--out", `${work}/plain`, "--tag", "t1"],
            cwd: checkout,
            env,
            clearEnv: true,
          }).output();
          assert.ok(plain.success, new TextDecoder().decode(plain.stderr));
          assert.equal(
            await Deno.readTextFile(`${work}/out/result.json`),
            await Deno.readTextFile(`${work}/plain/result.json`),
          );
          console.log(`  submit.sh: 3 shards + merge in ${(performance.now() - t0).toFixed(0)} ms`);
        },
      );

      await t.step(
        "a failed shard cancels the merge; re-running it alone, then the merge",
        async () => {
          const t0 = performance.now();
          const images = `${work}/images`, checkout = `${work}/checkout`, out = `${work}/retry`;
          const env = {
            ...slurm.env,
            GPUS_PER_TASK: "0",
            DENO_LOFTR_REPO: checkout,
            DENO: deno,
            FAKE_FAIL_SHARD: "1",
          };
          const submit = await new Deno.Command(`${repo}/deploy/slurm/submit.sh`, {
            args: [images, out, "3", "--tag", "t1"],
            env,
            clearEnv: true,
          }).output();
          assert.ok(submit.success, new TextDecoder().decode(submit.stderr));
          const said = new TextDecoder().decode(submit.stdout);
          const shards = Number(/^shards: job (\d+),/m.exec(said)?.[1]);
          const merge = Number(/^merge: +job (\d+),/m.exec(said)?.[1]);
          const jobs = await slurm.waitFor([shards, merge], 60_000);
          const state = (task: string | null, id: number) =>
            jobs.find((j) => (task === null ? j.jobId === id : j.arrayTaskId === task))!.state;
          assert.deepEqual(
            [state("0", 0), state("1", 0), state("2", 0)],
            ["COMPLETED", "FAILED", "COMPLETED"],
          );
          assert.equal(state(null, merge), "CANCELLED", "merge after a failed shard");
          assert.deepEqual(
            [...Deno.readDirSync(`${out}/shards`)].map((e) => e.name).sort(),
            ["shard-0-of-3.json", "shard-2-of-3.json"],
          );
          // deploy/README.md's recovery: the failed task alone (--array=1 is shard 1 of 3), then the merge.
          const again = await slurm.sbatch(
            `${repo}/deploy/slurm/shard.sbatch`,
            [images, out, "3", "--tag", "t1"],
            ["--array=1", `--chdir=${checkout}`, `--output=${out}/logs/again-%A_%a.out`],
          );
          const merged = await slurm.sbatch(
            `${repo}/deploy/slurm/merge.sbatch`,
            [images, out, "--tag", "t1"],
            [
              `--dependency=afterok:${again}`,
              `--chdir=${checkout}`,
              `--output=${out}/logs/merged-%j.out`,
            ],
          );
          for (const j of await slurm.waitFor([again, merged], 60_000)) {
            assert.equal(
              j.state,
              "COMPLETED",
              `${j.jobId} ${j.state}: ${await logs(`${out}/logs`)}`,
            );
          }
          assert.equal(
            await Deno.readTextFile(`${out}/result.json`),
            await Deno.readTextFile(`${work}/plain/result.json`),
          );
          console.log(`  failure and recovery in ${(performance.now() - t0).toFixed(0)} ms`);
        },
      );
    } finally {
      await slurm.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});

/** The job logs in `dir`, for failure messages. */
async function logs(dir: string): Promise<string> {
  const parts: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    parts.push(`--- ${e.name}\n${await Deno.readTextFile(`${dir}/${e.name}`)}`);
  }
  return parts.join("\n");
}
