/**
 * Reading a weights file by path: Deno only, loaded on first use by
 * load_weights.ts, so that the loader itself runs in a page too.
 * @module
 */
import { SafetensorsError } from "./safetensors.ts";

/** The bytes of the file at `path`; a {@link SafetensorsError} naming it when it cannot be read. */
export async function readFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    const why = (e as Error).message.replace(/ \(os error \d+\).*$/, "");
    throw new SafetensorsError(`${path}: cannot read (${why})`);
  }
}
