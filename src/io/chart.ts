/**
 * Evaluation charts as PNG, drawn on an RGBA bitmap with a 3×5 pixel font:
 * a bar chart (per-scene mAA) and step-function CDFs of pose errors.
 * @module
 */
import { type Rgb, viridis } from "./draw.ts";
import { encodePng } from "./viz.ts";

/**
 * 3×5 glyphs of FONT_CHARS: five rows of three bits (left = 4) as octal digits, top
 * row first. Lower case is drawn as upper case; other characters as `?`.
 */
const FONT_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.-_:%/()+= ?";
const FONT_BITS = (
  "75557 26227 71747 71717 55711 74717 74757 71122 75757 75717 25755 65656 " +
  "34443 65556 74647 74644 34553 55755 72227 11152 55655 44447 57755 65555 " +
  "25552 65644 25563 65655 34216 72222 55557 55552 55775 55255 55222 71247 " +
  "00002 00700 00007 02020 51245 11244 24442 21112 02720 07070 00000 71202"
).split(" ");
const FONT = new Map([...FONT_CHARS].map((c, i) => [c, FONT_BITS[i]]));

const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [150, 150, 150];
const GRID: Rgb = [225, 225, 225];
/** Pixels per font dot. */
const DOT = 2;
/** Width of one character cell (3 dots and a gap), pixels. */
const CHAR = 4 * DOT;

/** A white RGBA bitmap with rectangles and text. */
class Canvas {
  readonly px: Uint8Array;
  constructor(readonly width: number, readonly height: number) {
    this.px = new Uint8Array(4 * width * height).fill(255);
  }

  /** Fills the rectangle [x, x + w) × [y, y + h), clipped to the bitmap. */
  rect(x: number, y: number, w: number, h: number, [r, g, b]: Rgb): void {
    const x0 = Math.max(0, Math.round(x)), x1 = Math.min(this.width, Math.round(x + w));
    const y0 = Math.max(0, Math.round(y)), y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) this.px.set([r, g, b, 255], 4 * (yy * this.width + xx));
    }
  }

  /** Draws `text` with its top-left corner at (x, y); `align` places x at its start, middle or end. */
  text(x: number, y: number, text: string, color: Rgb, align: "start" | "middle" | "end"): void {
    const w = text.length * CHAR - DOT;
    const left = align === "start" ? x : align === "middle" ? x - w / 2 : x - w;
    [...text.toUpperCase()].forEach((c, i) => {
      const rows = FONT.get(c) ?? FONT.get("?")!;
      for (let row = 0; row < 5; row++) {
        for (let col = 0; col < 3; col++) {
          if ((Number(rows[row]) >> (2 - col)) & 1) {
            this.rect(left + i * CHAR + col * DOT, y + row * DOT, DOT, DOT, color);
          }
        }
      }
    });
  }

  png(): Uint8Array {
    return encodePng(this.px, this.width, this.height);
  }
}

/** Plot area of the charts, pixels. */
const LEFT = 56, TOP = 36, PLOT_H = 240, BOTTOM = 44;

/** One bar of {@link barChart}: a label and a value in [0, 1] (`null`: none, marked `n/a`). */
export interface Bar {
  label: string;
  value: number | null;
}

/**
 * A bar chart of values in [0, 1] (per-scene mAA): a bar of `value · 240`
 * pixels per entry, coloured by viridis of its value, its value printed above
 * it and its label (up to 11 characters) below; grid lines every 0.1. Returns
 * PNG bytes.
 */
export function barChart(bars: Bar[], title: string): Uint8Array {
  const slot = 96, barW = 56;
  const width = Math.max(LEFT + slot * bars.length + 16, LEFT + title.length * CHAR + 16);
  const c = new Canvas(width, TOP + PLOT_H + BOTTOM);
  const base = TOP + PLOT_H;
  c.text(LEFT, 10, title, BLACK, "start");
  for (let k = 0; k <= 10; k++) {
    const y = base - (k * PLOT_H) / 10;
    c.rect(LEFT, y, width - LEFT - 8, 1, k ? GRID : BLACK);
    if (k % 5 === 0) c.text(LEFT - 8, y - 5, String(k / 10), BLACK, "end");
  }
  bars.forEach(({ label, value }, i) => {
    const cx = LEFT + slot * i + slot / 2;
    if (value === null) {
      c.text(cx, base - 14, "n/a", GREY, "middle");
    } else {
      const v = Math.min(1, Math.max(0, value)), h = Math.round(v * PLOT_H);
      c.rect(cx - barW / 2, base - h, barW, h, viridis(v));
      c.text(cx, base - h - 14, value.toFixed(3), BLACK, "middle");
    }
    c.text(cx, base + 10, label.slice(0, 11), BLACK, "middle");
  });
  return c.png();
}

/** One curve of {@link cdfChart}: a label and errors (non-finite ones never reach the x range). */
export interface CdfSeries {
  label: string;
  errors: number[];
}

/**
 * Cumulative distributions of errors as step functions over [0, `max`]: at x,
 * the fraction of a series' errors ≤ x (a pair without an estimate counts as
 * an infinite error, so a curve can stay below 1). Series coloured along
 * viridis, with a legend; x ticks every `max / 10`. Returns PNG bytes.
 */
export function cdfChart(series: CdfSeries[], max: number, title: string): Uint8Array {
  const plotW = 400, width = LEFT + plotW + 150;
  const c = new Canvas(width, TOP + PLOT_H + BOTTOM);
  const base = TOP + PLOT_H;
  c.text(LEFT, 10, title, BLACK, "start");
  const xOf = (e: number) => LEFT + (Math.min(e, max) / max) * plotW;
  for (let k = 0; k <= 10; k++) {
    const y = base - (k * PLOT_H) / 10, x = xOf((k * max) / 10);
    c.rect(LEFT, y, plotW, 1, k ? GRID : BLACK);
    c.rect(x, TOP, 1, PLOT_H, k ? GRID : BLACK);
    if (k % 5 === 0) c.text(LEFT - 8, y - 5, String(k / 10), BLACK, "end");
    if (k % 2 === 0) {
      c.text(x, base + 10, String(+((k * max) / 10).toPrecision(3)), BLACK, "middle");
    }
  }
  series.forEach(({ label, errors }, i) => {
    const color = viridis(series.length > 1 ? (0.9 * i) / (series.length - 1) : 0);
    const sorted = errors.filter((e) => e <= max).sort((a, b) => a - b);
    const n = errors.length;
    let y = base;
    sorted.forEach((e, k) => {
      const next = base - Math.round(((k + 1) / n) * PLOT_H);
      c.rect(xOf(e) - 1, next, 2, y - next + 1, color); // rise
      const to = k + 1 < sorted.length ? xOf(sorted[k + 1]) : xOf(max);
      c.rect(xOf(e) - 1, next - 1, to - xOf(e) + 1, 2, color); // run
      y = next;
    });
    c.rect(LEFT + plotW + 16, TOP + 16 * i, 10, 10, color);
    c.text(LEFT + plotW + 32, TOP + 16 * i, label.slice(0, 14), BLACK, "start");
  });
  return c.png();
}
