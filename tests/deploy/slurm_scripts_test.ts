/**
 * deploy/slurm/ without a cluster: `bash -n` on the scripts, submit.sh run
 * with a stand-in `sbatch` that records its arguments (the array range, the
 * afterok merge, --gres), shard.sbatch and merge.sbatch run with a stand-in
 * `deno` (the command they run), and the array's indices resolved to shards
 * with src/pipeline/shard.ts. tests/cluster/slurm_test.ts runs them on a real
 * Slurm.
 */
import assert from "node:assert/strict";
import { type Pair, partitionPairs, shardFromEnvironment } from "../../src/pipeline/shard.ts";

const slurmDir = new URL("../../deploy/slurm/", import.meta.url).pathname;
const repo = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const scripts = ["submit.sh", "shard.sbatch", "merge.sbatch"];

/** A temp folder with a stand-in `sbatch` and `deno` that record their arguments. */
async function stage() {
  const dir = await Deno.makeTempDir({ prefix: "deno-loftr-slurm-scripts-" });
  await Deno.mkdir(`${dir}/bin`);
  await Deno.mkdir(`${dir}/calls`);
  await Deno.mkdir(`${dir}/images`);
  // sbatch: records its arguments, prints job ids 101, 102, … (--parsable style).
  await Deno.writeTextFile(
    `${dir}/bin/sbatch`,
    `#!/bin/bash
n=$(ls "${dir}/calls" | wc -l)
printf '%s\\n' "$@" > "${dir}/calls/$n"
echo "$((101 + n))"
`,
    { mode: 0o755 },
  );
  await Deno.writeTextFile(
    `${dir}/bin/deno`,
    `#!/bin/bash\nprintf '%s\\n' "$@" > "${dir}/deno-args"\n`,
    { mode: 0o755 },
  );
  return {
    dir,
    path: `${dir}/bin:${Deno.env.get("PATH")}`,
    /** The arguments of each sbatch call, in order. */
    async calls(): Promise<string[][]> {
      const names = [...Deno.readDirSync(`${dir}/calls`)].map((e) => Number(e.name)).sort((a, b) =>
        a - b
      );
      return await Promise.all(
        names.map(async (n) =>
          (await Deno.readTextFile(`${dir}/calls/${n}`)).replace(/\n$/, "").split("\n")
        ),
      );
    },
    async denoArgs(): Promise<string[]> {
      return (await Deno.readTextFile(`${dir}/deno-args`)).replace(/\n$/, "").split("\n");
    },
    async cleanup() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Runs a script with `env` (on top of PATH and HOME); returns exit code, stdout, stderr. */
async function runScript(
  script: string,
  args: string[],
  env: Record<string, string>,
  cwd?: string,
) {
  const out = await new Deno.Command("bash", {
    args: [script, ...args],
    env: { HOME: Deno.env.get("HOME") ?? "/root", ...env },
    clearEnv: true,
    cwd,
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("slurm scripts: bash -n", async () => {
  for (const name of scripts) {
    const out = await new Deno.Command("bash", { args: ["-n", `${slurmDir}${name}`] }).output();
    assert.ok(out.success, `${name}: ${new TextDecoder().decode(out.stderr)}`);
    const text = await Deno.readTextFile(`${slurmDir}${name}`);
    assert.ok(text.startsWith("#!/usr/bin/env bash\n"), `${name}: shebang`);
    assert.ok(text.includes("set -euo pipefail"), `${name}: strict mode`);
    assert.ok(((await Deno.stat(`${slurmDir}${name}`)).mode! & 0o111) !== 0, `${name}: executable`);
  }
  // #SBATCH lines count only before the first command.
  for (const name of ["shard.sbatch", "merge.sbatch"]) {
    const lines = (await Deno.readTextFile(`${slurmDir}${name}`)).split("\n");
    const firstCommand = lines.findIndex((l, i) => i > 0 && l.trim() !== "" && !l.startsWith("#"));
    const lastSbatch = lines.findLastIndex((l) => l.startsWith("#SBATCH"));
    assert.ok(lastSbatch >= 0 && lastSbatch < firstCommand, `${name}: #SBATCH after a command`);
  }
});

Deno.test("slurm scripts: submit.sh submits the array 0-(N-1) and the afterok merge", async () => {
  const s = await stage();
  try {
    const r = await runScript(
      `${slurmDir}submit.sh`,
      [`${s.dir}/images`, `${s.dir}/out`, "4", "--resize", "640"],
      { PATH: s.path },
    );
    assert.equal(r.code, 0, r.stderr);
    const [shards, merge, ...more] = await s.calls();
    assert.equal(more.length, 0);
    const images = `${s.dir}/images`, out = `${s.dir}/out`;
    assert.deepEqual(shards, [
      "--parsable",
      "--array=0-3",
      `--chdir=${repo}`,
      "--gres=gpu:1",
      `--output=${out}/logs/shard-%A_%a.out`,
      `${slurmDir}shard.sbatch`,
      images,
      out,
      "4",
      "--resize",
      "640",
    ]);
    assert.deepEqual(merge, [
      "--parsable",
      "--dependency=afterok:101",
      "--kill-on-invalid-dep=yes",
      `--chdir=${repo}`,
      "--gres=gpu:1",
      `--output=${out}/logs/merge-%j.out`,
      `${slurmDir}merge.sbatch`,
      images,
      out,
      "--resize",
      "640",
    ]);
    assert.match(r.stdout, /^shards: job 101, array 0-3 /m);
    assert.match(r.stdout, /^merge: +job 102, after every shard succeeds/m);
    assert.ok((await Deno.stat(`${out}/logs`)).isDirectory);
  } finally {
    await s.cleanup();
  }
});

Deno.test("slurm scripts: submit.sh options (no GPUs, throttle, extra sbatch options, N = 1)", async () => {
  const s = await stage();
  try {
    const r = await runScript(`${slurmDir}submit.sh`, [`${s.dir}/images`, `${s.dir}/out`, "01"], {
      PATH: s.path,
      GPUS_PER_TASK: "0",
      MAX_PARALLEL: "2",
      SHARD_SBATCH_ARGS: "--time=1:00:00 --mem=8G",
      MERGE_SBATCH_ARGS: "--cpus-per-task=8",
      DENO_LOFTR_REPO: repo,
    });
    assert.equal(r.code, 0, r.stderr);
    const [shards, merge] = await s.calls();
    assert.ok(shards.includes("--array=0-0%2"), shards.join(" "));
    assert.ok(
      !shards.some((a) => a.startsWith("--gres")) && !merge.some((a) => a.startsWith("--gres")),
    );
    assert.ok(shards.includes("--time=1:00:00") && shards.includes("--mem=8G"));
    assert.ok(merge.includes("--cpus-per-task=8") && !shards.includes("--cpus-per-task=8"));
    assert.equal(shards.at(-1), "1");
  } finally {
    await s.cleanup();
  }
});

Deno.test("slurm scripts: submit.sh refuses bad input in one line, submitting nothing", async () => {
  const s = await stage();
  try {
    const cases: [string[], Record<string, string>, string][] = [
      [[`${s.dir}/images`, `${s.dir}/out`, "0"], {}, "N = 0"],
      [[`${s.dir}/images`, `${s.dir}/out`, "abc"], {}, "N = abc"],
      [[`${s.dir}/images`, `${s.dir}/out`, "3/2"], {}, "N = 3/2"],
      [[`${s.dir}/images`, `${s.dir}/out`, "-1"], {}, "N = -1"],
      [[`${s.dir}/nothing`, `${s.dir}/out`, "2"], {}, `${s.dir}/nothing: no such folder`],
      [[`${s.dir}/images`, `${s.dir}/out`, "2"], { GPUS_PER_TASK: "x" }, "GPUS_PER_TASK=x"],
      [[`${s.dir}/images`, `${s.dir}/out`, "2"], { MAX_PARALLEL: "0" }, "MAX_PARALLEL=0"],
      [
        [`${s.dir}/images`, `${s.dir}/out`, "2"],
        { DENO_LOFTR_REPO: s.dir },
        `${s.dir}: not a deno-loftr`,
      ],
      [[`${s.dir}/images`, `${s.dir}/out`], {}, "usage:"],
    ];
    for (const [args, env, text] of cases) {
      const r = await runScript(`${slurmDir}submit.sh`, args, { PATH: s.path, ...env });
      assert.equal(r.code, 2, `${args} ${JSON.stringify(env)}`);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.ok(r.stderr.includes(text), `${r.stderr} lacks ${text}`);
    }
    assert.deepEqual(await s.calls(), []);
  } finally {
    await s.cleanup();
  }
});

Deno.test("slurm scripts: each array task of shard.sbatch is its own shard of N; merge.sbatch", async () => {
  const s = await stage();
  try {
    const checkout = `${s.dir}/checkout`;
    await Deno.mkdir(checkout);
    await Deno.writeTextFile(`${checkout}/deno.json`, "{}");
    const pairs: Pair[] = [];
    for (let i = 0; i < 9; i++) for (let j = i + 1; j < 9; j++) pairs.push([i, j]);
    for (let n = 1; n <= 5; n++) {
      // The range submit.sh gives sbatch for n shards…
      await Deno.remove(`${s.dir}/calls`, { recursive: true });
      await Deno.mkdir(`${s.dir}/calls`);
      const r = await runScript(
        `${slurmDir}submit.sh`,
        [`${s.dir}/images`, `${s.dir}/out`, String(n)],
        { PATH: s.path },
      );
      assert.equal(r.code, 0, r.stderr);
      const array = (await s.calls())[0].find((a) => a.startsWith("--array="))!;
      const m = /^--array=(\d+)-(\d+)$/.exec(array)!;
      const ids = Array.from(
        { length: Number(m[2]) - Number(m[1]) + 1 },
        (_, k) => Number(m[1]) + k,
      );
      // …and the shard each task of that array runs.
      const covered = new Set<number>();
      for (const id of ids) {
        const env = {
          SLURM_ARRAY_JOB_ID: "101",
          SLURM_ARRAY_TASK_ID: String(id),
          SLURM_ARRAY_TASK_COUNT: String(ids.length),
          SLURM_ARRAY_TASK_MIN: String(ids[0]),
          SLURM_ARRAY_TASK_MAX: String(ids.at(-1)),
          SLURM_ARRAY_TASK_STEP: "1",
        };
        const t = await runScript(
          `${slurmDir}shard.sbatch`,
          ["/imgs", "/out", String(n), "--resize", "640"],
          { PATH: s.path, DENO: `${s.dir}/bin/deno`, ...env },
          checkout,
        );
        assert.equal(t.code, 0, t.stderr);
        const argv = await s.denoArgs();
        assert.deepEqual(argv, [
          "task",
          "reconstruct",
          "/imgs",
          "--out",
          "/out",
          "--shard",
          `auto/${n}`,
          "--resize",
          "640",
        ]);
        const shard = shardFromEnvironment(env, argv[6])!;
        assert.deepEqual([shard.index, shard.count], [id, n]);
        for (const k of partitionPairs(pairs, 9, shard.count)[shard.index]) covered.add(k);
      }
      assert.equal(covered.size, pairs.length, `${n} shards cover every pair`);
    }
    // Not an array task, or not in a checkout: one-line errors.
    const notArray = await runScript(`${slurmDir}shard.sbatch`, ["/i", "/o", "4"], {
      PATH: s.path,
    }, checkout);
    assert.equal(notArray.code, 2);
    assert.match(
      notArray.stderr,
      /^error: shard\.sbatch: SLURM_ARRAY_TASK_ID is not set.*N = 4\)\n$/,
    );
    const elsewhere = await runScript(`${slurmDir}shard.sbatch`, ["/i", "/o", "4"], {
      PATH: s.path,
      SLURM_ARRAY_TASK_ID: "0",
    }, s.dir);
    assert.equal(elsewhere.code, 2);
    assert.match(elsewhere.stderr, /not a deno-loftr checkout/);
    // The merge.
    const merge = await runScript(`${slurmDir}merge.sbatch`, ["/imgs", "/out", "--resize", "640"], {
      PATH: s.path,
      DENO: `${s.dir}/bin/deno`,
      SLURM_JOB_ID: "102",
    }, checkout);
    assert.equal(merge.code, 0, merge.stderr);
    assert.deepEqual(await s.denoArgs(), [
      "task",
      "reconstruct",
      "/imgs",
      "--out",
      "/out",
      "--merge",
      "--resize",
      "640",
    ]);
  } finally {
    await s.cleanup();
  }
});
