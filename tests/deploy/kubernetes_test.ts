/**
 * deploy/kubernetes/reconstruct.yaml, checked without a cluster: parsed with
 * npm:yaml, then the fields the recipe relies on are asserted (an Indexed
 * Job, the shard count, the index variable reaching the command, the GPU, the
 * shared volume, the merge Job on the same volume), and the shard of every
 * index is resolved with src/pipeline/shard.ts from the environment that
 * Kubernetes gives the pod.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "../support/yaml.ts";
import { shardFromEnvironment } from "../../src/pipeline/shard.ts";

const manifestPath = new URL("../../deploy/kubernetes/reconstruct.yaml", import.meta.url);
const readmePath = new URL("../../deploy/README.md", import.meta.url);

// deno-lint-ignore no-explicit-any
type Json = any;

/** The manifest's documents as plain objects; fails on any YAML error or warning. */
function manifest(): Json[] {
  const docs = parseAllDocuments(Deno.readTextFileSync(manifestPath));
  assert.ok(Array.isArray(docs), "not a YAML stream");
  return docs.map((doc, i) => {
    assert.deepEqual(doc.errors.map((e) => e.message), [], `document ${i}: YAML errors`);
    assert.deepEqual(doc.warnings.map((e) => e.message), [], `document ${i}: YAML warnings`);
    return doc.toJS();
  }).filter((doc) => doc !== null);
}

/** The one document with label deno-loftr/step = `step`. */
function step(docs: Json[], name: string): Json {
  const found = docs.filter((d) => d.metadata?.labels?.["deno-loftr/step"] === name);
  assert.equal(found.length, 1, `documents labelled deno-loftr/step=${name}`);
  return found[0];
}

/** The pod's volume mounted at the longest mount path holding `path`. */
function volumeOf(pod: Json, container: Json, path: string): Json {
  const mounts = (container.volumeMounts ?? []).filter((m: Json) =>
    path === m.mountPath || path.startsWith(m.mountPath.replace(/\/?$/, "/"))
  );
  assert.ok(mounts.length > 0, `${path}: not on a mounted volume`);
  const mount = mounts.sort((a: Json, b: Json) => b.mountPath.length - a.mountPath.length)[0];
  const volume = pod.volumes.find((v: Json) => v.name === mount.name);
  assert.ok(volume, `volume ${mount.name} not in the pod`);
  return volume;
}

/** The value following `option` in `argv`. */
function optionValue(argv: string[], option: string): string | undefined {
  const at = argv.indexOf(option);
  return at < 0 ? undefined : argv[at + 1];
}

Deno.test("kubernetes: the manifest parses into a claim, an Indexed Job and a merge Job", () => {
  const docs = manifest();
  assert.deepEqual(docs.map((d) => d.kind), ["PersistentVolumeClaim", "Job", "Job"]);
  for (const d of docs) assert.equal(d.metadata.labels["app.kubernetes.io/name"], "deno-loftr");
  const claim = step(docs, "storage");
  assert.equal(claim.apiVersion, "v1");
  assert.ok(claim.spec.accessModes.includes("ReadWriteMany"), "pods on many nodes share it");
  assert.match(claim.spec.resources.requests.storage, /^[0-9]+[GT]i$/);
});

Deno.test("kubernetes: the shards Job runs shard JOB_COMPLETION_INDEX of completions", () => {
  const docs = manifest();
  const job = step(docs, "shards");
  assert.equal(job.apiVersion, "batch/v1");
  assert.equal(job.kind, "Job");
  const spec = job.spec;
  assert.equal(spec.completionMode, "Indexed");
  assert.ok(Number.isInteger(spec.completions) && spec.completions >= 1, "completions");
  assert.ok(
    Number.isInteger(spec.parallelism) && spec.parallelism >= 1 &&
      spec.parallelism <= spec.completions,
    "parallelism 1…completions",
  );
  if (spec.backoffLimitPerIndex !== undefined) {
    assert.ok(Number.isInteger(spec.backoffLimitPerIndex) && spec.backoffLimitPerIndex >= 0);
  }
  if (spec.podReplacementPolicy !== undefined) assert.equal(spec.podReplacementPolicy, "Failed");
  const pod = spec.template.spec;
  assert.equal(pod.restartPolicy, "Never"); // required by backoffLimitPerIndex
  assert.equal(pod.containers.length, 1);
  const c = pod.containers[0];
  const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])];
  assert.deepEqual(argv.slice(0, 3), ["deno", "task", "reconstruct"]);
  assert.ok(!argv.includes("--merge"));
  const shard = optionValue(argv, "--shard");
  const env: Record<string, string> = Object.fromEntries(
    (c.env ?? []).map((e: Json) => [e.name, e.value]),
  );
  // Kubernetes sets JOB_COMPLETION_INDEX itself: the manifest must not override it.
  assert.ok(!("JOB_COMPLETION_INDEX" in env), "JOB_COMPLETION_INDEX set in env");
  assert.ok(!argv.some((a) => a.includes("JOB_COMPLETION_INDEX")), "the command sets the index");
  // N: from --shard auto/N or DENO_LOFTR_SHARD_COUNT, equal to completions.
  const count = shard?.startsWith("auto/") ? shard.slice(5) : env.DENO_LOFTR_SHARD_COUNT;
  assert.equal(count, String(spec.completions), "the shard count is not completions");
  assert.ok(
    shard === undefined || shard === "auto" || shard.startsWith("auto/"),
    `--shard ${shard}`,
  );
  // Every pod resolves to its own shard: index i of completions, from Kubernetes.
  for (let i = 0; i < spec.completions; i++) {
    const r = shardFromEnvironment({ ...env, JOB_COMPLETION_INDEX: String(i) }, shard)!;
    assert.deepEqual([r.index, r.count, r.source], [i, spec.completions, "kubernetes"]);
  }
  // A GPU, and the Vulkan driver mounted by the NVIDIA runtime.
  assert.ok(Number(c.resources.limits["nvidia.com/gpu"]) >= 1, "GPU limit");
  assert.ok(env.NVIDIA_DRIVER_CAPABILITIES?.split(",").includes("graphics"), "Vulkan driver");
  assert.ok(c.workingDir, "workingDir: the checkout with deno.json");
  // The images and --out are on the shared claim.
  const claim = step(docs, "storage").metadata.name;
  const images = argv[3];
  const out = optionValue(argv, "--out")!;
  assert.ok(out, "--out");
  for (const path of [images, out]) {
    assert.equal(volumeOf(pod, c, path).persistentVolumeClaim?.claimName, claim, path);
  }
});

Deno.test("kubernetes: the merge Job runs --merge on the same volume and folders", () => {
  const docs = manifest();
  const shards = step(docs, "shards");
  const merge = step(docs, "merge");
  assert.equal(merge.kind, "Job");
  assert.notEqual(merge.spec.completionMode, "Indexed");
  assert.equal(merge.spec.completions ?? 1, 1);
  assert.equal(merge.spec.parallelism ?? 1, 1);
  assert.notEqual(merge.metadata.name, shards.metadata.name);
  const pod = merge.spec.template.spec, shardPod = shards.spec.template.spec;
  const c = pod.containers[0], sc = shardPod.containers[0];
  const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])];
  const shardArgv: string[] = [...(sc.command ?? []), ...(sc.args ?? [])];
  assert.deepEqual(argv.slice(0, 3), ["deno", "task", "reconstruct"]);
  assert.ok(argv.includes("--merge"));
  assert.ok(!argv.includes("--shard"));
  // Same images, same --out, same other options as the shards.
  const rest = (a: string[]) => {
    const copy = a.filter((x) => x !== "--merge");
    const at = copy.indexOf("--shard");
    if (at >= 0) copy.splice(at, 2);
    return copy;
  };
  assert.deepEqual(rest(argv), rest(shardArgv));
  assert.equal(c.image, sc.image);
  assert.equal(c.workingDir, sc.workingDir);
  const claim = step(docs, "storage").metadata.name;
  assert.equal(
    volumeOf(pod, c, optionValue(argv, "--out")!).persistentVolumeClaim.claimName,
    claim,
  );
  assert.equal(volumeOf(pod, c, argv[3]).persistentVolumeClaim.claimName, claim);
  assert.ok(Number(c.resources.limits["nvidia.com/gpu"]) >= 1, "GPU limit");
});

Deno.test("kubernetes: deploy/README.md gives the commands for these names and labels", () => {
  const readme = Deno.readTextFileSync(readmePath);
  const docs = manifest();
  for (const name of ["storage", "shards", "merge"]) {
    assert.ok(
      readme.includes(
        `kubectl apply -f deploy/kubernetes/reconstruct.yaml -l deno-loftr/step=${name}`,
      ),
      `apply of step ${name}`,
    );
  }
  for (const name of ["shards", "merge"]) {
    const job = step(docs, name).metadata.name;
    assert.ok(
      readme.includes(`kubectl wait --for=condition=complete job/${job}`),
      `wait for ${job}`,
    );
  }
});
