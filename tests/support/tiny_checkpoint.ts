/**
 * A tiny but complete LoFTR checkpoint (ResNetFPN_8_2, d_model 8) in PyTorch
 * Lightning's `torch.save` layout with seeded values, written by hand (the
 * pickle writer of torch_writer.ts): for the converter's tests and the
 * `convert` task's.
 */
import type { HostTensor } from "../../src/model/parameters.ts";
import { dict, int, type Op, pickle, str, tensorOp, torchZip } from "./torch_writer.ts";
import { seededRandom } from "./util.ts";

/** A copy of a typed array's bytes. */
export const bytesOf = (a: ArrayBufferView): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

/** Shapes of a small but complete ResNetFPN_8_2 LoFTR (inferConfig's view of it). */
export function tinyLoftrShapes(): [string, number[]][] {
  const d = 8;
  const shapes: [string, number[]][] = [["backbone.conv1.weight", [4, 1, 7, 7]]];
  [4, 6, 8].forEach((c, i) => shapes.push([`backbone.layer${i + 1}.0.conv1.weight`, [c, c, 3, 3]]));
  shapes.push(["backbone.layer3_outconv.weight", [d, 8, 1, 1]]);
  for (const stage of ["loftr_coarse", "loftr_fine"]) {
    for (let i = 0; i < 2; i++) {
      for (const w of ["q_proj", "k_proj", "v_proj", "merge"]) {
        shapes.push([`${stage}.layers.${i}.${w}.weight`, [d, d]]);
      }
      shapes.push([`${stage}.layers.${i}.mlp.0.weight`, [2 * d, 2 * d]]);
      shapes.push([`${stage}.layers.${i}.mlp.2.weight`, [d, 2 * d]]);
    }
  }
  shapes.push(["fine_preprocess.down_proj.weight", [d, d]]);
  shapes.push(["fine_preprocess.merge_feat.weight", [d, 2 * d]]);
  return shapes;
}

/** A Lightning-layout checkpoint of {@link tinyLoftrShapes} with seeded values. */
export function tinyLightningCheckpoint(): { bytes: Uint8Array; tensors: Map<string, HostTensor> } {
  const rand = seededRandom(7);
  const tensors = new Map<string, HostTensor>();
  const storages: Record<string, Uint8Array> = {};
  const entries: [string, Op][] = [];
  tinyLoftrShapes().forEach(([name, shape], i) => {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rand);
    tensors.set(name, { shape, data });
    storages[String(i)] = bytesOf(data);
    entries.push([`matcher.${name}`, tensorOp(String(i), "FloatStorage", data.length, shape)]);
  });
  storages.counter = bytesOf(new BigInt64Array([5n]));
  entries.push([
    "matcher.backbone.bn1.num_batches_tracked",
    tensorOp("counter", "LongStorage", 1, []),
  ]);
  const root = dict([
    ["epoch", int(3)],
    ["pytorch-lightning_version", str("1.3.5")],
    ["state_dict", dict(entries)],
  ]);
  return { bytes: torchZip(pickle(root), storages, "some_run"), tensors };
}
