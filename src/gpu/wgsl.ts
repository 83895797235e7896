/**
 * WGSL sources as the GPU layer reads them: loading with `#include`, the f16
 * variant of a kernel, and a kernel's interface (its uniform fields and
 * storage bindings, by name) read from the source itself, so that each
 * kernel declares it once, in its `.wgsl` file.
 *
 * Conventions every kernel follows:
 * - `@group(0) @binding(0) var<uniform> p: Params;` with `struct Params`
 *   holding scalar `u32`, `i32` or `f32` fields (a kernel without parameters
 *   still declares one field). Callers fill the fields by name.
 * - `@group(0) @binding(k) var<storage, …> name: …;` for k ≥ 1: the storage
 *   buffers, bound by name. Entry points of one file that use different
 *   buffers may give one binding several names.
 * - `#include "file.wgsl"` on a line of its own inserts that file (a path
 *   relative to the including file), once per kernel however often it is
 *   named: shared functions and constants are written once.
 * - A kernel with an f16 variant declares the element type of the tensors it
 *   keeps in storage as `alias elem = f32;` on a line of its own.
 * @module
 */
import { GpuError } from "./error.ts";

/** A WGSL source with its includes inserted, and where each of its lines came from. */
export interface WgslSource {
  /** The code handed to the compiler. */
  code: string;
  /** For line k + 1 of `code` (the compiler's numbering), its file and line. */
  origin: { file: string; line: number }[];
}

/** The file name of a shader URL: its label in pipelines, profiles and messages. */
export function shaderName(shader: URL): string {
  return shader.pathname.slice(shader.pathname.lastIndexOf("/") + 1);
}

const INCLUDE = /^#include\s+"([^"]+)"\s*$/;

/** Fetches the WGSL file at `url` (a `file:` URL in Deno, `http(s):` in a page) and its includes. */
export async function loadWgsl(url: URL): Promise<WgslSource> {
  const out: WgslSource = { code: "", origin: [] };
  const lines: string[] = [];
  const seen = new Set<string>();
  const insert = async (file: URL, chain: string[]) => {
    if (chain.includes(file.href)) {
      throw new GpuError(
        `${shaderName(file)}: #include cycle through ${
          chain.map((c) => shaderName(new URL(c))).join(" → ")
        }`,
      );
    }
    seen.add(file.href);
    const text = await fetchText(file);
    const name = shaderName(file);
    for (const [k, line] of text.split("\n").entries()) {
      const include = INCLUDE.exec(line);
      if (include) {
        const target = new URL(include[1], file);
        if (!seen.has(target.href)) await insert(target, [...chain, file.href]);
        continue;
      }
      lines.push(line);
      out.origin.push({ file: name, line: k + 1 });
    }
  };
  await insert(url, []);
  out.code = lines.join("\n");
  return out;
}

async function fetchText(url: URL): Promise<string> {
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return await res.text();
  } catch (e) {
    throw new GpuError(`cannot load shader ${url.href}: ${(e as Error).message}`);
  }
}

/** `file:line` of line `line` (1-based) of a loaded source. */
export function sourceLine(source: WgslSource, line: number): string {
  const o = source.origin[line - 1];
  return o ? `${o.file}:${o.line}` : `line ${line}`;
}

/**
 * The f16 variant of a kernel's source: its `alias elem = f32;` line declares
 * f16 instead, and `enable f16;` comes first, on the first line (line numbers
 * stay those of the f32 source).
 */
export function f16Variant(source: WgslSource, label: string): WgslSource {
  const declaration = /^alias elem = f32;$/m;
  if (!declaration.test(source.code)) {
    throw new GpuError(`${label} has no f16 variant: no line "alias elem = f32;"`);
  }
  return {
    code: `enable f16; ${source.code.replace(declaration, "alias elem = f16;")}`,
    origin: source.origin,
  };
}

/** Scalar types a uniform field may have. */
export type UniformType = "u32" | "i32" | "f32";

/** A kernel's interface: what its callers fill by name. */
export interface KernelInterface {
  /** The fields of `struct Params`, in declaration order (each 4 bytes). */
  uniforms: readonly { name: string; type: UniformType }[];
  /** Storage bindings by variable name (a binding may have several names). */
  bindings: ReadonlyMap<string, number>;
}

/** Reads the uniform fields and storage bindings of a kernel from its source. */
export function parseInterface(code: string, label: string): KernelInterface {
  const body = /struct\s+Params\s*\{([^}]*)\}/.exec(code)?.[1];
  if (body === undefined) throw new GpuError(`${label}: no struct Params`);
  const uniforms: { name: string; type: UniformType }[] = [];
  for (const field of body.replace(/\/\/[^\n]*/g, "").split(",")) {
    if (field.trim() === "") continue;
    const m = /^\s*(\w+)\s*:\s*(\w+)\s*$/.exec(field);
    if (!m || !["u32", "i32", "f32"].includes(m[2])) {
      throw new GpuError(
        `${label}: Params field "${field.trim()}" is not a u32, i32 or f32 scalar`,
      );
    }
    uniforms.push({ name: m[1], type: m[2] as UniformType });
  }
  const bindings = new Map<string, number>();
  const binding = /@group\(0\)\s*@binding\((\d+)\)\s*var<storage[^>]*>\s*(\w+)\s*:/g;
  for (const m of code.matchAll(binding)) bindings.set(m[2], Number(m[1]));
  return { uniforms, bindings };
}

/**
 * Packs uniform values by field name into the words of `Params` (a multiple
 * of 16 bytes). Every field must be given, and nothing else.
 */
export function packUniforms(
  iface: KernelInterface,
  values: Readonly<Record<string, number>>,
  label: string,
): Uint32Array {
  const words = new Uint32Array(Math.max(4, Math.ceil(iface.uniforms.length / 4) * 4));
  const f32 = new Float32Array(words.buffer), i32 = new Int32Array(words.buffer);
  iface.uniforms.forEach(({ name, type }, k) => {
    const v = values[name];
    if (typeof v !== "number") throw new GpuError(`${label}: uniform ${name} not given`);
    if (type === "f32") f32[k] = v;
    else if (type === "i32") i32[k] = v;
    else words[k] = v;
  });
  for (const name of Object.keys(values)) {
    if (!iface.uniforms.some((u) => u.name === name)) {
      throw new GpuError(`${label}: Params has no field ${name}`);
    }
  }
  return words;
}
