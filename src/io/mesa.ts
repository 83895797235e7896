/**
 * Keeps Mesa's Vulkan loader quiet under Deno: it prints "XDG_RUNTIME_DIR is
 * invalid" to stderr whenever an adapter is requested with the variable
 * unset (CI, containers). The entry points (mod.ts, the commands) call
 * {@link quietMesaWarning} once; the platform-neutral core never touches the
 * environment.
 * @module
 */

/** Points `XDG_RUNTIME_DIR` at the temporary folder when it is unset (Linux, with --allow-env). */
export function quietMesaWarning(): void {
  try {
    if (Deno.build.os !== "linux" || Deno.env.get("XDG_RUNTIME_DIR")) return;
    Deno.env.set("XDG_RUNTIME_DIR", Deno.env.get("TMPDIR") || "/tmp");
  } catch {
    // No --allow-env: the warning is harmless, leave it.
  }
}
