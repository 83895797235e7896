// The layout stays true: imports between the folders of src/ go one way (and
// stay in src/, but for the commands that build the web page with
// web/build/), no module imports itself through others, and the platform-neutral core
// (gpu, kernels, model, geometry) names no Deno API, node: module or npm
// package but through src/deps.ts. Read from the import statements of the
// files themselves, static and dynamic.
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

/**
 * Each folder of src/ and its layer: a module may import from its own folder
 * and from folders of a lower layer. model and geometry are beside each other
 * (neither imports the other); io reads files into the model's and the
 * geometry's types, so it sits above both.
 */
const LAYERS: Record<string, number> = {
  gpu: 0,
  kernels: 1,
  model: 2,
  geometry: 2,
  io: 3,
  pipeline: 4,
  cli: 5,
};
const CORE = ["gpu", "kernels", "model", "geometry"];

/** Every `.ts` file below `dir` (a path relative to the repository root). */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(new URL(dir, root))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...tsFiles(path));
    else if (e.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** The specifiers a module imports or re-exports, statically or with `import()`. */
function specifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found = [
    ...code.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gms),
    ...code.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
    ...code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
  ];
  return found.map((m) => m[1]);
}

/** `src/<folder>/…` → folder; `src/deps.ts` → "deps". */
function folderOf(path: string): string {
  const parts = path.split("/");
  return parts.length > 2 ? parts[1] : parts[1].replace(/\.ts$/, "");
}

const files = tsFiles("src");
const graph = new Map<string, string[]>();
for (const file of files) {
  const local: string[] = [];
  for (const spec of specifiers(Deno.readTextFileSync(new URL(file, root)))) {
    if (!spec.startsWith(".")) continue;
    const target = new URL(spec, new URL(file, root)).pathname.slice(root.pathname.length);
    local.push(target);
  }
  graph.set(file, local);
}

Deno.test("layout: every folder of src/ has a layer", () => {
  const folders = new Set(files.map(folderOf));
  folders.delete("deps");
  assert.deepEqual([...folders].sort(), Object.keys(LAYERS).sort());
});

Deno.test("layout: imports go from higher layers to lower ones only", () => {
  const wrong: string[] = [];
  for (const [file, targets] of graph) {
    const from = folderOf(file);
    for (const target of targets) {
      const to = folderOf(target);
      if (!target.startsWith("src/")) {
        // The serve and build-web commands run the web page's build (web/build/).
        if (from !== "cli" || !target.startsWith("web/build/")) {
          wrong.push(`${file} → ${target} (outside src/)`);
        }
      } else if (to === "deps") {
        if (!CORE.includes(from)) wrong.push(`${file} → ${target} (src/deps.ts is the core's)`);
      } else if (to !== from && !(LAYERS[to] < LAYERS[from])) {
        wrong.push(
          `${file} (${from}, layer ${LAYERS[from]}) → ${target} (${to}, layer ${LAYERS[to]})`,
        );
      }
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("layout: no import circle between modules", () => {
  const state = new Map<string, "open" | "done">();
  const circles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      circles.push([...path.slice(path.indexOf(file)), file].join(" → "));
      return;
    }
    state.set(file, "open");
    for (const t of graph.get(file) ?? []) visit(t, [...path, file]);
    state.set(file, "done");
  };
  for (const file of files) visit(file, []);
  assert.deepEqual(circles, []);
});

Deno.test("layout: the core names no Deno API, node: module or npm package", () => {
  const found: string[] = [];
  for (const file of files.filter((f) => CORE.includes(folderOf(f)))) {
    const source = Deno.readTextFileSync(new URL(file, root));
    const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    if (/\bDeno\./.test(code)) found.push(`${file}: Deno.`);
    for (const spec of specifiers(source)) {
      if (!spec.startsWith(".")) found.push(`${file}: ${spec}`);
    }
  }
  assert.deepEqual(found, []);
});

Deno.test("layout: tests and the bench share helpers through testing/, never bench/", () => {
  const wrong = [...tsFiles("tests"), ...tsFiles("testing")].flatMap((file) =>
    specifiers(Deno.readTextFileSync(new URL(file, root)))
      .filter((s) => /(^|\/)bench\//.test(s))
      .map((s) => `${file} → ${s}`)
  );
  assert.deepEqual(wrong, []);
});

Deno.test("layout: the kernel cases and what they import are platform-neutral (they run in a browser too)", () => {
  // From tests/kernels/cases.ts through every relative import: no Deno API, no node: module or
  // npm package (but the core's, through src/deps.ts), nothing of src/ outside the core.
  const found: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    if (file === "src/deps.ts") return;
    if (file.startsWith("src/") && !CORE.includes(folderOf(file))) {
      found.push(`${file}: outside the core`);
      return;
    }
    const source = Deno.readTextFileSync(new URL(file, root));
    const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    if (/\bDeno\./.test(code)) found.push(`${file}: Deno.`);
    for (const spec of specifiers(source)) {
      if (!spec.startsWith(".")) {
        found.push(`${file}: ${spec}`);
        continue;
      }
      visit(new URL(spec, new URL(file, root)).pathname.slice(root.pathname.length));
    }
  };
  visit("tests/kernels/cases.ts");
  assert.ok(seen.size > 10, `only ${seen.size} modules reached`);
  assert.deepEqual(found, []);
});
