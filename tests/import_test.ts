// `import` of mod.ts from another Deno project: its own (empty) configuration, another
// working directory, only --allow-read and --allow-env. Shaders and weights must load
// relative to the module and npm dependencies must resolve without our deno.json.
import assert from "node:assert/strict";

Deno.test("mod.ts imported from another project matches the example pair", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const root = new URL("..", import.meta.url);
    await Deno.writeTextFile(`${dir}/deno.json`, "{}\n");
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { Matcher } from "${new URL("mod.ts", root).href}";
const matcher = await Matcher.create();
const m = await matcher.match(
  "${new URL("tests/fixtures/images/fountain_0001.png", root).pathname}",
  "${new URL("tests/fixtures/images/fountain_0000.png", root).pathname}",
  { resize: { width: 640, height: 480 } },
);
console.log(m.count);
matcher.destroy();
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-env", "main.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    // The reference pipeline's 717 matches on these inputs (tests/match_test.ts).
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "717");
    assert.equal(stderr.trim(), "", "nothing on stderr");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
