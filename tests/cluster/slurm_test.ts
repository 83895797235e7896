/**
 * Job arrays on a real Slurm: a one-node cluster on localhost
 * (tests/support/slurm.ts) runs an array of `deno run` tasks and a merge job
 * after them (--dependency=afterok), then the recipe deploy/slurm/submit.sh
 * with the real `deno task reconstruct` on four photos, whose merged database
 * must equal the unsharded run's, and the recovery from a failed shard. Skipped where Debian's
 * slurm-wlm and munge are not installed, or not as root.
 */
import assert from "node:assert/strict";
import { isRoot, LocalSlurm, missingSlurm } from "../support/slurm.ts";
import { sqliteRows } from "../support/colmap.ts";
import { fixture } from "../support/util.ts";

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

      // The real `deno task reconstruct` of this checkout on four photos (6 pairs), the
      // mapper left out (tests/cli/reconstruct_test.ts runs it on the same database).
      const images = fixture("sfm/fountain4/images");
      const options = [
        "--camera-model",
        "PINHOLE",
        "--camera-params",
        "1077.921875,1079.75,594.01953125,393.28515625",
        "--skip-mapper",
      ];
      const env = { ...slurm.env, GPUS_PER_TASK: "0", DENO_LOFTR_REPO: repo, DENO: deno };
      const submit = (out: string) =>
        new Deno.Command(`${repo}/deploy/slurm/submit.sh`, {
          args: [images, out, "3", ...options],
          env,
          clearEnv: true,
        }).output();

      await t.step(
        "deploy/slurm/submit.sh: 3 shards and the merge give the unsharded run's database",
        async () => {
          const t0 = performance.now();
          const out = `${work}/out`;
          const submitted = await submit(out);
          const said = new TextDecoder().decode(submitted.stdout);
          assert.ok(submitted.success, new TextDecoder().decode(submitted.stderr));
          const shards = Number(/^shards: job (\d+), array 0-2 /m.exec(said)?.[1]);
          const merge = Number(/^merge: +job (\d+),/m.exec(said)?.[1]);
          assert.ok(shards > 0 && merge > 0, said);
          const jobs = await slurm.waitFor([shards, merge], 300_000);
          for (const j of jobs) {
            assert.equal(
              j.state,
              "COMPLETED",
              `${j.jobId} ${j.state}: ${await logs(`${out}/logs`)}`,
            );
          }
          const names = [...Deno.readDirSync(`${out}/shards`)].map((e) => e.name).sort();
          assert.deepEqual(names, [
            "shard-0-of-3.sqlite",
            "shard-1-of-3.sqlite",
            "shard-2-of-3.sqlite",
          ]);
          const log0 = await Deno.readTextFile(`${out}/logs/shard-${shards}_0.out`);
          assert.match(
            log0,
            /shard 0\/3 \(SLURM_ARRAY_TASK_ID=0, N from --shard auto\/3 \(Slurm job array\)\): 2 of 6 pairs, backbone on \d of 4 photos/,
          );
          // The same command unsharded, here.
          const plain = await new Deno.Command(deno, {
            args: ["task", "reconstruct", images, "--out", `${work}/plain`, ...options],
            cwd: repo,
            env,
            clearEnv: true,
          }).output();
          assert.ok(plain.success, new TextDecoder().decode(plain.stderr));
          assert.deepEqual(
            sqliteRows(`${out}/database.db`),
            sqliteRows(`${work}/plain/database.db`),
          );
          console.log(`  submit.sh: 3 shards + merge in ${(performance.now() - t0).toFixed(0)} ms`);
        },
      );

      await t.step(
        "a failed shard cancels the merge; re-running it alone, then the merge",
        async () => {
          const t0 = performance.now();
          const out = `${work}/retry`;
          // Shard 1 cannot open its result file: a folder stands in its place.
          await Deno.mkdir(`${out}/shards/shard-1-of-3.sqlite`, { recursive: true });
          const submitted = await submit(out);
          assert.ok(submitted.success, new TextDecoder().decode(submitted.stderr));
          const said = new TextDecoder().decode(submitted.stdout);
          const shards = Number(/^shards: job (\d+),/m.exec(said)?.[1]);
          const merge = Number(/^merge: +job (\d+),/m.exec(said)?.[1]);
          const jobs = await slurm.waitFor([shards, merge], 300_000);
          const state = (task: string | null, id: number) =>
            jobs.find((j) => (task === null ? j.jobId === id : j.arrayTaskId === task))!.state;
          assert.deepEqual(
            [state("0", 0), state("1", 0), state("2", 0)],
            ["COMPLETED", "FAILED", "COMPLETED"],
          );
          assert.equal(state(null, merge), "CANCELLED", "merge after a failed shard");
          const failed = await Deno.readTextFile(`${out}/logs/shard-${shards}_1.out`);
          assert.match(failed, /^error: .*shard-1-of-3\.sqlite: cannot open the pair store/m);
          await Deno.remove(`${out}/shards/shard-1-of-3.sqlite`);
          // deploy/README.md's recovery: the failed task alone (--array=1 is shard 1 of 3), then the merge.
          const again = await slurm.sbatch(
            `${repo}/deploy/slurm/shard.sbatch`,
            [images, out, "3", ...options],
            ["--array=1", `--chdir=${repo}`, `--output=${out}/logs/again-%A_%a.out`],
          );
          const merged = await slurm.sbatch(
            `${repo}/deploy/slurm/merge.sbatch`,
            [images, out, ...options],
            [
              `--dependency=afterok:${again}`,
              `--chdir=${repo}`,
              `--output=${out}/logs/merged-%j.out`,
            ],
          );
          for (const j of await slurm.waitFor([again, merged], 300_000)) {
            assert.equal(
              j.state,
              "COMPLETED",
              `${j.jobId} ${j.state}: ${await logs(`${out}/logs`)}`,
            );
          }
          assert.deepEqual(
            sqliteRows(`${out}/database.db`),
            sqliteRows(`${work}/plain/database.db`),
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
