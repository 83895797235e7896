// `deno task submit`: an IMC2022 submission from a small test.csv in the Kaggle layout
// (images at <images>/<batch_id>/<image_id>.png), built from the Strecha fixture PNGs:
// fountain_0001 and fountain_0000 after the reference's 640×480 INTER_AREA resize.
import assert from "node:assert/strict";
import { parseCsv as parse } from "../../src/io/deps.ts";
import { mulVec3, transpose3 } from "../../src/geometry/linalg.ts";
import { poseErrors } from "../../src/geometry/metric.ts";
import { fixture, runCli } from "../support/util.ts";

/** Ground truth of row 0 (fountain_0001 → fountain_0000) for the 640×480 PNGs. */
const ROW: Record<string, string> = parse(
  Deno.readTextFileSync(fixture("relpose/pairs.csv")),
  { columns: true },
)[0];
const num = (s: string) => Float64Array.from(s.trim().split(/\s+/), Number);
// 1200×800 → 640×480: x' = (x + 0.5)·640/1200 − 0.5, y' = (y + 0.5)·480/800 − 0.5.
const [sx, sy] = [640 / 1200, 480 / 800];
const K = num(ROW.K1);
const K640 = Float64Array.of(
  K[0] * sx,
  0,
  (K[2] + 0.5) * sx - 0.5,
  0,
  K[4] * sy,
  (K[5] + 0.5) * sy - 0.5,
  0,
  0,
  1,
);
const R = num(ROW.R), T = num(ROW.T);

const submit = (args: string[]) => runCli("src/cli/submit.ts", args);

Deno.test({
  name: "submit: one row per sample in test.csv order; F of the real pair and of its reverse",
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.mkdir(`${dir}/images/b1`, { recursive: true });
      await Deno.copyFile(fixture("images/fountain_0001.png"), `${dir}/images/b1/a.png`);
      await Deno.copyFile(fixture("images/fountain_0000.png"), `${dir}/images/b1/b.png`);
      await Deno.writeTextFile(`${dir}/images/b1/bad.png`, "not an image\n");
      await Deno.writeTextFile(
        `${dir}/test.csv`,
        [
          "sample_id,batch_id,image_1_id,image_2_id",
          "b1;s1;a-b,b1,a,b",
          "b1;s2;a-missing,b1,a,missing", // no such image
          "b1;s3;a,b1,a", // 3 fields
          ",b1,a,b", // line 5: no sample_id: cannot be written
          "b1;s5;b-a,b1,b,a",
          "b1;s6;a-bad,b1,a,bad", // unreadable image
        ].join("\n") + "\n",
      );
      const r = await submit([
        "--test-csv",
        `${dir}/test.csv`,
        "--images",
        `${dir}/images/`,
        "--out",
        `${dir}/submission.csv`,
      ]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /wrote .*submission\.csv: 5 samples, 3 without F/);
      assert.match(r.err, /b1;s2;a-missing: .*missing\.png.*no such file/);
      assert.match(r.err, /test\.csv:4: 3 fields where the header has 4/);
      assert.match(r.err, /test\.csv:5: no sample_id/);
      assert.match(r.err, /bad\.png.*not an image/);
      const lines = (await Deno.readTextFile(`${dir}/submission.csv`)).trim().split("\n");
      assert.equal(lines[0], "sample_id,fundamental_matrix");
      const rows = lines.slice(1).map((l) => l.split(","));
      assert.deepEqual(rows.map((r) => r[0]), [
        "b1;s1;a-b",
        "b1;s2;a-missing",
        "b1;s3;a",
        "b1;s5;b-a",
        "b1;s6;a-bad",
      ]);
      for (const [, f] of rows) {
        const v = f.split(" ");
        assert.equal(v.length, 9);
        assert.ok(v.every((x) => Number.isFinite(Number(x))), f);
      }
      for (const i of [1, 2, 4]) assert.deepEqual(num(rows[i][1]), new Float64Array(9));
      // x2ᵀ F x1 = 0 with x1 in image_1 (images 0 and 1 of the library: x1ᵀ F x0 = 0):
      // scored against the pair's truth, and the reverse sample against the inverse pose.
      const forward = poseErrors(num(rows[0][1]), { K0: K640, K1: K640, R, T });
      const Rt = transpose3(R), back = mulVec3(Rt, T).map((v) => -v);
      const reverse = poseErrors(num(rows[3][1]), { K0: K640, K1: K640, R: Rt, T: back });
      for (const e of [forward, reverse]) {
        assert.ok(e.errQ < 1 && e.errT < 0.2, `errors ${e.errQ}°, ${e.errT} m`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("submit: missing options, files and columns end in one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/empty.csv`, "sample_id,batch_id,image_1_id,image_2_id\n");
    await Deno.writeTextFile(`${dir}/cols.csv`, "sample_id,image_1_id,image_2_id\nx,a,b\n");
    await Deno.writeTextFile(
      `${dir}/ok.csv`,
      "sample_id,batch_id,image_1_id,image_2_id\nx,b,a,c\n",
    );
    const o = ["--out", `${dir}/s.csv`];
    const cases: [string[], number, RegExp][] = [
      [["--images", dir, ...o], 2, /--test-csv is required/],
      [["--test-csv", `${dir}/none.csv`, "--images", dir, ...o], 1, /none\.csv: no such file/],
      [["--test-csv", `${dir}/empty.csv`, "--images", dir, ...o], 1, /empty\.csv: no samples/],
      [
        ["--test-csv", `${dir}/cols.csv`, "--images", dir, ...o],
        1,
        /cols\.csv: no column batch_id/,
      ],
      [["--test-csv", `${dir}/ok.csv`, "--images", `${dir}/no`, ...o], 1, /no: no such folder/],
      [["--test-csv", `${dir}/ok.csv`, "--images", dir, ...o, "--seed", "x"], 2, /--seed/],
    ];
    for (const [args, code, pattern] of cases) {
      const r = await submit(args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.err}`);
      const err = r.err.trim();
      assert.equal(err.split("\n").length, 1, err);
      assert.match(err, pattern);
    }
    await assert.rejects(Deno.stat(`${dir}/s.csv`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
