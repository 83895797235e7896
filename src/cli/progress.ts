/**
 * Progress of a long run on the command line: a bar with rate and time left
 * on a terminal, a line at every tenth of the work otherwise.
 * @module
 */

import type { Output } from "./common.ts";

/** Where {@link Progress} writes. */
export interface ProgressSink {
  /** A terminal: one line redrawn in place. Otherwise a line at every tenth of the work. */
  tty: boolean;
  /** Writes text as is (terminal). */
  write(text: string): void;
  /** Writes a line. */
  log(line: string): void;
}

/**
 * The sink of a command's progress: standard error, as a bar when it is a
 * terminal, else lines through `out.error`.
 */
export function stderrSink(out: Output): ProgressSink {
  return {
    tty: Deno.stderr.isTerminal(),
    write: (text) => Deno.stderr.writeSync(new TextEncoder().encode(text)),
    log: (line) => out.error(line),
  };
}

/** A progress bar with rate and time left (on a terminal), or occasional lines. */
export class Progress {
  #total: number;
  #done = 0;
  #start = performance.now();
  #sink: ProgressSink;

  /** `total`: the items this run will process. */
  constructor(total: number, sink: ProgressSink) {
    this.#total = total;
    this.#sink = sink;
  }

  /** On a terminal, erases the bar before a message is printed (the next tick redraws it). */
  clear(): void {
    if (this.#sink.tty) this.#sink.write("\r\x1b[K");
  }

  /** One more item finished; `label` names it (shown on a terminal). */
  tick(label: string): void {
    const done = ++this.#done, total = this.#total;
    const seconds = (performance.now() - this.#start) / 1000;
    const rate = done / seconds;
    const left = clock((total - done) / rate);
    const status = `${done}/${total} (${Math.floor((100 * done) / total)}%), ` +
      `${rate >= 1 ? `${rate.toFixed(1)} pairs/s` : `${(1 / rate).toFixed(1)} s/pair`}, ` +
      `${left} left`;
    if (this.#sink.tty) {
      const width = 24, fill = Math.round((width * done) / total);
      const bar = "█".repeat(fill) + "░".repeat(width - fill);
      this.#sink.write(`\r\x1b[K${bar} ${status}  ${label}`.slice(0, 160));
      if (done === total) this.#sink.write("\r\x1b[K");
    } else if (
      done === total || Math.floor((10 * done) / total) > Math.floor((10 * (done - 1)) / total)
    ) {
      this.#sink.log(status);
    }
  }
}

/** `m:ss` (or `h:mm:ss`). */
function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const mm = String(Math.floor(s / 60) % 60), ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm.padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}
