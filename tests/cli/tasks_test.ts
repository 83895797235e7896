// Every command of the README, run as a user runs it: the command line of its
// deno.json task, with exactly the permissions the task grants (the test
// runner's own are wider), from the repository's root.
import assert from "node:assert/strict";
import { tinyLightningCheckpoint } from "../support/tiny_checkpoint.ts";
import { fixture, sharedDir, withTempDir } from "../support/util.ts";

const root = new URL("../../", import.meta.url);
const tasks: Record<string, string> = JSON.parse(
  Deno.readTextFileSync(new URL("deno.json", root)),
).tasks;

/** Runs `deno task <name> …args` as the task's own command line. */
async function task(name: string, args: string[] = []) {
  const [deno, ...words] = tasks[name].split(/\s+/);
  assert.equal(deno, "deno", `task ${name} runs deno`);
  const r = await new Deno.Command(Deno.execPath(), {
    args: [...words, ...args],
    cwd: root.pathname,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, out: text(r.stdout), err: text(r.stderr) };
}

const JPG0 = fixture("images/fountain_0001.jpg"), JPG1 = fixture("images/fountain_0000.jpg");

Deno.test("task match: the bundled pair, with F and a line on what would give the pose", async () => {
  const r = await task("match");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /matching the bundled example pair/);
  assert.match(r.out, /^matches: +\d+/m);
  assert.match(r.out, /^F: +\[.*\] +\(x1ᵀ F x0 = 0/m);
  assert.match(r.out, /^inliers: +\d+ of \d+/m);
  assert.match(r.out, /^pose: +not estimated .*--K0/m);
});

Deno.test("task convert: a PyTorch checkpoint converts without more permissions than the task's", async () => {
  await withTempDir(async (dir) => {
    // The bundled model's own checkpoint when ../shared is there, else a tiny one written here.
    const shared = sharedDir && `${sharedDir}weights/kolkir_coarse_loftr_teacher.pt`;
    const ckpt = shared ?? `${dir}/tiny.ckpt`;
    if (!shared) await Deno.writeFile(ckpt, tinyLightningCheckpoint().bytes);
    const r = await task("convert", [ckpt, "--out", `${dir}/w.safetensors`]);
    assert.equal(r.code, 0, r.err);
    assert.ok((await Deno.stat(`${dir}/w.safetensors`)).size > 0);
  });
});

Deno.test("task convert and task weights load no image decoder", async () => {
  for (const script of ["src/cli/convert.ts", "src/cli/weights.ts"]) {
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", script],
      cwd: root.pathname,
      stdout: "piped",
    }).output();
    const graph = JSON.parse(new TextDecoder().decode(info.stdout));
    const modules: string[] = graph.modules.map((m: { specifier: string }) => m.specifier);
    assert.ok(modules.length > 5, script);
    assert.deepEqual(modules.filter((m) => /imagescript|codecs\.ts|decode\.ts/.test(m)), []);
  }
});

Deno.test("task weights --list: the bundled model and the downloadable one", async () => {
  const r = await task("weights", ["--list"]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /coarse/);
  assert.match(r.out, /outdoor/);
});

Deno.test("task eval and task submit on a one-pair dataset", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/data/images`, { recursive: true });
    await Deno.copyFile(JPG0, `${dir}/data/images/fountain_0001.jpg`);
    await Deno.copyFile(JPG1, `${dir}/data/images/fountain_0000.jpg`);
    const rows = (await Deno.readTextFile(fixture("relpose/pairs.csv"))).split("\n");
    await Deno.writeTextFile(`${dir}/data/pairs.csv`, `${rows[0]}\n${rows[1]}\n`);
    await Deno.writeTextFile(
      `${dir}/data/scaling_factors.csv`,
      "scene,scaling_factor\nfountain,1\n",
    );
    const e = await task("eval", ["--data", `${dir}/data`, "--out", `${dir}/eval`]);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /^fountain +1 +1 +1\.000/m); // the pair scores at every threshold
    assert.ok((await Deno.stat(`${dir}/eval/summary.json`)).isFile);

    await Deno.mkdir(`${dir}/test/b1`, { recursive: true });
    await Deno.copyFile(JPG0, `${dir}/test/b1/a.jpg`);
    await Deno.copyFile(JPG1, `${dir}/test/b1/b.jpg`);
    await Deno.writeTextFile(
      `${dir}/test.csv`,
      "sample_id,batch_id,image_1_id,image_2_id\ns1,b1,a,b\n",
    );
    const s = await task("submit", [
      ...["--test-csv", `${dir}/test.csv`, "--images", `${dir}/test`, "--ext", "jpg"],
      ...["--out", `${dir}/submission.csv`],
    ]);
    assert.equal(s.code, 0, s.err);
    const lines = (await Deno.readTextFile(`${dir}/submission.csv`)).trim().split("\n");
    assert.equal(lines[0], "sample_id,fundamental_matrix");
    assert.match(lines[1], /^s1,(-?[\d.e+-]+ ){8}-?[\d.e+-]+$/);
  });
});

Deno.test("task bench: a minimal run writes its JSON", async () => {
  await withTempDir(async (dir) => {
    const r = await task("bench", [
      ...["--kernels", "conv", "--model", "tiny", "--sizes", "160x128"],
      ...["--reps", "1", "--warmup", "0", "--out", `${dir}/bench.json`],
    ]);
    assert.equal(r.code, 0, r.err);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/bench.json`));
    assert.equal(json.runs[0].status, "ok");
    assert.match(r.out, /conv2d/);
  });
});

Deno.test("task reconstruct and task sfm-eval: one pair into a COLMAP database; COLMAP's own model scored", async () => {
  await withTempDir(async (dir) => {
    const images = fixture("sfm/fountain4/images");
    await Deno.writeTextFile(`${dir}/pairs.txt`, "0003.jpg 0004.jpg\n");
    const r = await task("reconstruct", [
      ...[images, "--out", `${dir}/out`, "--pairs", `${dir}/pairs.txt`],
      ...["--orders", "one", "--skip-mapper"],
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /1 of 1 pairs verified \(F, >= 15 inliers\)/);
    assert.ok((await Deno.stat(`${dir}/out/database.db`)).size > 0);
    // COLMAP's SIFT model of the same 4 photos (tests/fixtures/colmap/README.md) against the
    // ground truth: all registered, centres within 1 cm after the alignment.
    const e = await task("sfm-eval", [
      ...["--gt", fixture("sfm/fountain4/cameras.csv")],
      ...["--model", fixture("colmap/fountain4_sift/bin"), "--json", `${dir}/score.json`],
    ]);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /^fountain4 +4\/4 /m);
    const [score] = JSON.parse(await Deno.readTextFile(`${dir}/score.json`));
    assert.equal(score.registered, 4);
    assert.ok(score.maxPosition < 0.01, `${score.maxPosition} m`);
  });
});
