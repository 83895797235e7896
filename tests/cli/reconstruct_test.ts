// `deno task reconstruct` and `deno task sfm-eval` run as a user runs them (the
// deno.json task's own permissions) on four Strecha fountain photos (6 pairs):
// the real `colmap mapper` against the ground-truth cameras; a sharded run
// merged against the unsharded run (same database rows, same model files); a
// run killed mid-way and resumed; refusals of other settings and bad inputs.
import assert from "node:assert/strict";
import { scoreReconstruction } from "../../src/geometry/sfm_metric.ts";
import {
  posesFromCamerasCsv,
  posesFromColmapModel,
  readCamerasCsv,
} from "../../src/io/cameras_csv.ts";
import { readColmapModel } from "../../src/io/colmap_model.ts";
import { PairStore } from "../../src/io/pair_store.ts";
import { needsColmap, sqliteRows as rows } from "../support/colmap.ts";
import { fixture, withTempDir } from "../support/util.ts";

const root = new URL("../../", import.meta.url).pathname;
const tasks: Record<string, string> = JSON.parse(Deno.readTextFileSync(`${root}deno.json`)).tasks;
const IMAGES = fixture("sfm/fountain4/images");
const GT = fixture("sfm/fountain4/cameras.csv");
/** The ground-truth intrinsics of every sfm_dev photo (fx,fy,cx,cy, COLMAP's convention). */
const K = "1077.921875,1079.75,594.01953125,393.28515625";
const PINHOLE = ["--camera-model", "PINHOLE", "--camera-params", K];

/** `deno task <name> …args` with the task's own command line, from the repository root. */
function command(name: string, args: string[], env: Record<string, string> = {}) {
  const [deno, ...words] = tasks[name].split(/\s+/);
  assert.equal(deno, "deno");
  return new Deno.Command(Deno.execPath(), {
    args: [...words, ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  });
}

async function task(name: string, args: string[], env: Record<string, string> = {}) {
  const r = await command(name, args, env).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, out: text(r.stdout), err: text(r.stderr) };
}

const modelFiles = ["cameras.bin", "images.bin", "points3D.bin"];

Deno.test(
  needsColmap(
    "reconstruct: 4 photos with the real colmap mapper, all registered at their true poses; 2 shards merged give the same database and model",
  ),
  async () => {
    await withTempDir(async (dir) => {
      const plain = `${dir}/plain`;
      const r = await task("reconstruct", [IMAGES, "--out", plain, ...PINHOLE, "--gt", GT]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /4 of 4 photos registered/);
      assert.match(r.out, /6 of 6 pairs verified \(E, >= 15 inliers\)/);
      assert.match(r.out, /^fountain4 +4\/4 /m);
      for (const f of ["database.db", "colmap.log", "points.ply", "cameras.png"]) {
        assert.ok((await Deno.stat(`${plain}/${f}`)).size > 0, f);
      }
      // Scored here from the model files against the ground truth. COLMAP's SIFT pipeline on
      // all 11 fountain photos gets 0.0027 m median centre error and pair errors below 1°
      // for 99% of pairs (sfm_dev/BASELINES.md); 4 photos and 6 pairs give fewer constraints,
      // hence 1° per pair and 2 cm (0.2% of the 10 m scene) for the centres.
      const model = await readColmapModel(`${plain}/sparse/0`);
      assert.equal(model.format, "binary");
      const score = scoreReconstruction(
        posesFromColmapModel(model),
        posesFromCamerasCsv(await readCamerasCsv(GT)),
      );
      assert.equal(score.registered, 4);
      for (const p of score.pairs) assert.ok(p.error < 1, `${p.image0} ${p.image1}: ${p.error}°`);
      assert.ok(score.aligned!.maxPosition < 0.02, `${score.aligned!.maxPosition} m`);
      assert.ok(model.points.size > 300, `${model.points.size} points`);

      // sfm-eval reads the same model.
      const e = await task("sfm-eval", ["--gt", GT, "--model", `${plain}/sparse`]);
      assert.equal(e.code, 0, e.err);
      assert.match(e.out, /^fountain4 +4\/4 +\d\.\d{3}/m);

      // Shard 0 of 2 by --shard, shard 1 by a Kubernetes index; the merge refuses before.
      const sharded = `${dir}/sharded`;
      const s0 = await task("reconstruct", [
        IMAGES,
        "--out",
        sharded,
        ...PINHOLE,
        "--shard",
        "0/2",
      ]);
      assert.equal(s0.code, 0, s0.err);
      assert.match(s0.out, /shard 0\/2 \(--shard 0\/2\): 3 of 6 pairs, backbone on \d of 4 photos/);
      const early = await task("reconstruct", [IMAGES, "--out", sharded, ...PINHOLE, "--merge"]);
      assert.equal(early.code, 1);
      assert.match(
        early.err,
        /^error: cannot merge: missing shards: .*shards\/shard-1-of-2\.sqlite$/m,
      );
      const s1 = await task("reconstruct", [IMAGES, "--out", sharded, ...PINHOLE], {
        JOB_COMPLETION_INDEX: "1",
        DENO_LOFTR_SHARD_COUNT: "2",
      });
      assert.equal(s1.code, 0, s1.err);
      assert.match(s1.out, /shard 1\/2 .*JOB_COMPLETION_INDEX=1.*: 3 of 6 pairs/);
      const merged = await task("reconstruct", [IMAGES, "--out", sharded, ...PINHOLE, "--merge"]);
      assert.equal(merged.code, 0, merged.err);
      assert.match(merged.out, /merge: +2 shards .* all complete/);
      assert.deepEqual(rows(`${sharded}/database.db`), rows(`${plain}/database.db`));
      for (const f of modelFiles) {
        assert.deepEqual(
          await Deno.readFile(`${sharded}/sparse/0/${f}`),
          await Deno.readFile(`${plain}/sparse/0/${f}`),
          f,
        );
      }
    });
  },
);

Deno.test("reconstruct: a run killed mid-way resumes from its finished pairs; other settings are refused", async () => {
  await withTempDir(async (dir) => {
    const args = (out: string) => [IMAGES, "--out", out, ...PINHOLE, "--skip-mapper"];
    const whole = await task("reconstruct", args(`${dir}/whole`));
    assert.equal(whole.code, 0, whole.err);
    assert.match(
      whole.out,
      /mapper: +skipped; to run it: mkdir -p .* && colmap mapper --database_path/,
    );

    // Killed once two pairs are stored.
    const out = `${dir}/killed`;
    const child = command("reconstruct", args(out)).spawn();
    let done = 0;
    for (let k = 0; k < 600 && done < 2; k++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        const store = PairStore.read(`${out}/pairs.sqlite`);
        done = store.count();
        store.close();
      } catch { /* not created yet */ }
    }
    child.kill("SIGKILL");
    await child.output();
    assert.ok(done >= 2 && done < 6, `${done} pairs stored when killed`);
    const store = PairStore.read(`${out}/pairs.sqlite`);
    const kept = store.count();
    store.close();
    const again = await task("reconstruct", args(out));
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, new RegExp(`\\(${kept} of 6 pairs already done\\)`));
    assert.match(again.out, new RegExp(`^matched: +${6 - kept} pairs`, "m"));
    assert.deepEqual(rows(`${out}/database.db`), rows(`${dir}/whole/database.db`));

    // Other settings: refused, naming them; the pairs are kept.
    const other = await task("reconstruct", [...args(out), "--ransac-threshold", "2"]);
    assert.equal(other.code, 1);
    assert.match(
      other.err,
      /^error: .*killed\/pairs\.sqlite holds pairs matched with other settings \(ransac\.threshold: "auto" there, 2 here\); use another --out/m,
    );
    const after = PairStore.read(`${out}/pairs.sqlite`);
    assert.equal(after.count(), 6);
    after.close();
  });
});

Deno.test("reconstruct: two runs of one shard at once end with one complete shard file", async () => {
  await withTempDir(async (dir) => {
    const args = [IMAGES, "--out", dir, ...PINHOLE, "--shard", "1/2", "--orders", "one"];
    const [a, b] = await Promise.all([task("reconstruct", args), task("reconstruct", args)]);
    assert.equal(a.code, 0, a.err);
    assert.equal(b.code, 0, b.err);
    const store = PairStore.read(`${dir}/shards/shard-1-of-2.sqlite`);
    assert.equal(store.count(), 3);
    assert.deepEqual(store.header.shard?.pairs, 3);
    store.close();
    const rerun = await task("reconstruct", args);
    assert.equal(rerun.code, 0, rerun.err);
    assert.match(rerun.out, /\(3 of 3 pairs already done\)/);
    // A merge with other settings, shard 0 never run: both named, nothing changed.
    const merge = await task("reconstruct", [
      ...[IMAGES, "--out", dir, ...PINHOLE, "--merge", "--orders", "one"],
      ...["--ransac-threshold", "2"],
    ]);
    assert.equal(merge.code, 1);
    assert.match(
      merge.err,
      /^error: cannot merge: missing shards: .*shard-0-of-2\.sqlite; .*shard-1-of-2\.sqlite: matched with other settings$/m,
    );
    const kept = PairStore.read(`${dir}/shards/shard-1-of-2.sqlite`);
    assert.equal(kept.count(), 3);
    kept.close();
  });
});

Deno.test("reconstruct: bad inputs are one-line errors naming the file or value", async () => {
  await withTempDir(async (dir) => {
    const one = `${dir}/one`, mixed = `${dir}/mixed`;
    await Deno.mkdir(one);
    await Deno.mkdir(mixed);
    await Deno.copyFile(`${IMAGES}/0003.jpg`, `${one}/0003.jpg`);
    await Deno.writeTextFile(`${one}/notes.txt`, "not a photo");
    const cases: [string[], RegExp][] = [
      [
        [one, "--out", `${dir}/o1`],
        /^error: .*one: 1 usable photos; a reconstruction needs at least 2$/m,
      ],
      [[IMAGES, "--out", `${dir}/o`, "--shard", "3/2"], /^error: --shard 3\/2: .*\(see --help\)$/m],
      [[IMAGES, "--out", `${dir}/o`, "--shard", "0/0"], /^error: --shard 0\/0/m],
      [
        [IMAGES, "--out", `${dir}/o`, "--camera-model", "PINHOLE", "--camera-params", "1,2,3"],
        /^error: --camera-model\/--camera-params: camera parameters "1,2,3" for PINHOLE: 3 values given; expected 4 comma-separated numbers fx,fy,cx,cy \(see --help\)$/m,
      ],
      [[IMAGES, "--out", `${dir}/o`, "--camera-model", "PINHOL"], /unknown camera model "PINHOL"/],
      [
        [IMAGES, "--out", `${dir}/o`, "--sequential", "0"],
        /^error: --sequential expects an integer >= 1, got "0"/m,
      ],
      [[IMAGES], /^error: --out DIR is required/m],
    ];
    for (const [args, expected] of cases) {
      const r = await task("reconstruct", args);
      assert.notEqual(r.code, 0, args.join(" "));
      assert.match(r.err, expected, args.join(" "));
      assert.equal(r.err.trim().split("\n").filter((l) => l.startsWith("error")).length, 1);
    }
    // A pair file naming an absent photo, and a malformed line: file and line.
    await Deno.writeTextFile(`${dir}/pairs.txt`, "0003.jpg 0004.jpg\n0003.jpg 0009.jpg\n");
    let r = await task("reconstruct", [IMAGES, "--out", `${dir}/o`, "--pairs", `${dir}/pairs.txt`]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^error: .*pairs\.txt:2: no image 0009\.jpg among the 4 photos$/m);
    await Deno.writeTextFile(`${dir}/pairs.txt`, "0003.jpg 0004.jpg 0005.jpg\n");
    r = await task("reconstruct", [IMAGES, "--out", `${dir}/o`, "--pairs", `${dir}/pairs.txt`]);
    assert.match(r.err, /^error: .*pairs\.txt:1: expected two image names/m);
    // A non-image file and an unreadable photo are skipped with a warning naming them.
    await Deno.copyFile(`${IMAGES}/0004.jpg`, `${one}/0004.jpg`);
    await Deno.writeTextFile(`${one}/0005.jpg`, "not a JPEG");
    await Deno.writeTextFile(`${dir}/pairs.txt`, "0003.jpg 0004.jpg\n");
    r = await task("reconstruct", [
      one,
      "--out",
      `${dir}/o2`,
      "--skip-mapper",
      "--pairs",
      `${dir}/pairs.txt`,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /^warning: .*one\/notes\.txt: not a \.jpg, \.jpeg or \.png name; skipped$/m,
    );
    assert.match(r.err, /^warning: .*one\/0005\.jpg: .*; skipped$/m);
    assert.match(r.err, /^warning: 1 of 3 photos skipped$/m);
    assert.match(r.out, /^photos: +2 in .*; 1 pairs$/m);
    // A database that no reconstruct run made is refused.
    await Deno.mkdir(`${dir}/foreign`);
    await Deno.writeTextFile(`${dir}/foreign/database.db`, "");
    r = await task("reconstruct", [IMAGES, "--out", `${dir}/foreign`]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^error: .*foreign\/database\.db exists but .* holds no pairs of deno task reconstruct/m,
    );
  });
});

Deno.test("reconstruct without colmap on the PATH: the database, then how to install colmap and the command to run", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/pairs.txt`, "0003.jpg 0004.jpg\n");
    const r = await task(
      "reconstruct",
      [IMAGES, "--out", dir, "--pairs", `${dir}/pairs.txt`, "--orders", "one"],
      { PATH: "/nonexistent" },
    );
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /^mapper: +colmap is not installed: install COLMAP \(Debian\/Ubuntu: apt-get install colmap/m,
    );
    assert.match(
      r.out,
      /^ {2}mkdir -p .*\/sparse && colmap mapper --database_path .*database\.db --image_path .*images --output_path .*sparse$/m,
    );
    assert.ok((await Deno.stat(`${dir}/database.db`)).size > 0);
  });
});
