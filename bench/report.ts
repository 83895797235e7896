/**
 * The bench's tables on stdout.
 * @module
 */
import type { ModelRun } from "./model.ts";

/** A plain-text table, the first column left-aligned. */
export function table(head: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => c == null ? "–" : String(c)));
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => i === 0 ? c.padEnd(width[i]) : c.padStart(width[i])).join("  ");
  return [line(head), line(width.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

/** A number with `digits` decimals, or null. */
export const f = (v: number | null | undefined, digits = 1) => v == null ? null : v.toFixed(digits);
/** A share as a percentage, or null. */
export const pct = (v: number | null | undefined) => v == null ? null : `${(100 * v).toFixed(1)}%`;

/** The tables of one model run. */
export function report(run: ModelRun, top = 25): string {
  const title = `== ${run.model} model, ${run.size}`;
  if (run.status !== "ok") return `${title}: ${run.status}\n`;
  const out = [title];
  if (run.endToEnd) {
    out.push(
      `end to end (Matcher.match, stages overlapped): median ${f(run.endToEnd.medianMs)} ms, ` +
        `min ${f(run.endToEnd.minMs)} ms; ${run.matches} matches`,
    );
  }
  out.push(
    `device memory high-water mark ${f(run.memory!.peakMiB)} MiB (weights ` +
      `${f(run.memory!.weightsMiB)} MiB); pipelines ${run.pipelines!.afterWarmup} after ` +
      `warm-up, ${run.pipelines!.afterRuns} after the timed runs` +
      `; dispatches per pair ${run.dispatchesPerPair}` +
      (run.readbacksPerPair !== undefined
        ? `; read-backs per pair ${run.readbacksPerPair}; bind groups created by the last ` +
          `timed pair ${run.bindGroupsPerPair}`
        : ""),
    "",
    table(
      ["stage", "wall ms (synced)", "GPU ms", "GFLOP", "GFLOP/s"],
      run.stages!.map((s) => [
        s.stage,
        f(s.wallMs),
        f(s.gpuMs),
        f(s.gflop, 2),
        s.gpuMs ? f(s.gflop / s.gpuMs * 1e3, 2) : null,
      ]),
    ),
    "",
    table(
      ["kernel family", "GPU ms", "time", "GFLOP", "FLOPs", "GFLOP/s"],
      run.families!.map((r) => [
        r.family,
        f(r.ms),
        pct(r.msShare),
        f(r.gflop, 2),
        pct(r.flopShare),
        f(r.gflops, 2),
      ]),
    ),
    "",
  );
  if (run.kernels!.length) {
    out.push(
      table(
        ["stage", "kernel", "shape", "calls", "GPU ms", "ms/call", "GFLOP/s", "GB/s"],
        run.kernels!.slice(0, top).map((r) => [
          r.stage,
          r.kernel,
          r.shape,
          r.calls,
          f(r.ms, 2),
          r.ms === null ? null : f(r.ms / r.calls, 3),
          f(r.gflops, 2),
          f(r.gbs, 2),
        ]),
      ),
    );
    if (run.kernels!.length > top) {
      out.push(`(${run.kernels!.length - top} more kernel rows in the JSON)`);
    }
  }
  return out.join("\n") + "\n";
}
