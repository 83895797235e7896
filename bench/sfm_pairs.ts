/**
 * Writes every pair of photos of the sfm_dev scenes (../shared/data/sfm_dev)
 * as a dataset of the relpose layout, so that `deno task eval` scores the
 * two-view pipeline on all of them (the sweep of
 * bench/results/quality_sweep.md): `pairs.csv` with K (this engine's pixel
 * convention: COLMAP's cx, cy less 0.5), the relative pose from the
 * ground-truth cameras, `scaling_factors.csv` (1: the cameras are in metres)
 * and `images/<scene>_<name>` as symbolic links.
 *
 * `deno run --allow-read --allow-write bench/sfm_pairs.ts [SFM_DEV] --out DIR`
 * @module
 */
import { parseArgs } from "node:util";
import { intrinsicsMatrix, posesFromCamerasCsv, readCamerasCsv } from "../src/io/cameras_csv.ts";
import { relativePose } from "../src/geometry/sfm_metric.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { out: { type: "string" } },
});
const root = await Deno.realPath(positionals[0] ?? "../shared/data/sfm_dev");
if (!values.out) throw new Error("--out DIR is required");
const out = values.out;
await Deno.mkdir(`${out}/images`, { recursive: true });
const rows = ["pair_id,image1,image2,K1,K2,R,T,scene"], scenes: string[] = [];
for (const entry of [...Deno.readDirSync(root)].sort((a, b) => a.name.localeCompare(b.name))) {
  const scene = entry.name, csv = `${root}/${scene}/cameras.csv`;
  if (!entry.isDirectory || !(await Deno.stat(csv).catch(() => null))) continue;
  const cameras = await readCamerasCsv(csv);
  scenes.push(scene);
  const poses = posesFromCamerasCsv(cameras);
  const file = (image: string) => `${scene}_${image}`;
  for (const c of cameras) {
    await Deno.symlink(`${root}/${scene}/images/${c.image}`, `${out}/images/${file(c.image)}`)
      .catch((e) => {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      });
  }
  const row = (v: ArrayLike<number>) => Array.from(v).join(" ");
  for (let i = 0; i < cameras.length; i++) {
    for (let j = i + 1; j < cameras.length; j++) {
      const [a, b] = [cameras[i], cameras[j]];
      const { R, t } = relativePose(poses.get(a.image)!, poses.get(b.image)!);
      const id = `sfm_dev;${scene};${a.image}-${b.image}`;
      rows.push(
        [
          id,
          file(a.image),
          file(b.image),
          row(intrinsicsMatrix(a, "engine")),
          row(intrinsicsMatrix(b, "engine")),
          row(R),
          row(t),
          scene,
        ].join(","),
      );
    }
  }
}
await Deno.writeTextFile(`${out}/pairs.csv`, rows.join("\n") + "\n");
await Deno.writeTextFile(
  `${out}/scaling_factors.csv`,
  ["scene,scaling_factor", ...scenes.map((s) => `${s},1.0`)].join("\n") + "\n",
);
console.log(`${out}: ${rows.length - 1} pairs of ${scenes.join(", ")}`);
