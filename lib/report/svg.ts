import type { ScatterPoint } from './report-data.ts';
import type { Timeline } from './timeline.ts';

/**
 * The report's two pictures as inline SVG strings (no script, no library): the PCA scatter, one
 * circle per sampled image in its class's colour, and the shards' timeline, one bar per attempt.
 */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Tableau 20: distinct at a glance for up to 20 classes; after that hues step by the golden angle. */
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/** One colour per class, by the class's rank among all the run's classes (so a class keeps its colour whatever was sampled). */
export function classColours(targets: readonly number[]): Map<number, string> {
  const colours = new Map<number, string>();
  [...targets]
    .sort((a, b) => a - b)
    .forEach((target, rank) => {
      colours.set(
        target,
        rank < PALETTE.length
          ? PALETTE[rank]!
          : `hsl(${Math.round((rank * 137.508) % 360)} ${rank % 2 ? 55 : 70}% ${rank % 3 ? 42 : 55}%)`,
      );
    });
  return colours;
}

const round = (value: number) => Math.round(value * 10) / 10;

/** Tick positions: a step of 1, 2 or 5 × 10^k giving about `count` ticks over [min, max]. */
export function ticks(min: number, max: number, count = 6): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const out: number[] = [];
  for (let k = Math.ceil(min / step - 1e-9); k * step <= max + step * 1e-9; k++)
    out.push(k === 0 ? 0 : Number((k * step).toPrecision(12)));
  return out;
}

const formatTick = (value: number) => String(Number(value.toPrecision(6)));

export function scatterSvg(
  points: readonly ScatterPoint[],
  colours: Map<number, string>,
  labels: Map<number, string>,
  axes: [string, string],
): string {
  const [width, height, left, right, top, bottom] = [720, 480, 56, 16, 16, 44];
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = (a: number, b: number) => (b - a || 1) * 0.04;
  const [minX, maxX, minY, maxY] = [x0 - pad(x0, x1), x1 + pad(x0, x1), y0 - pad(y0, y1), y1 + pad(y0, y1)];
  const sx = (x: number) => round(left + ((x - minX) / (maxX - minX)) * (width - left - right));
  const sy = (y: number) => round(height - bottom - ((y - minY) / (maxY - minY)) * (height - top - bottom));
  const grid = [
    ...ticks(minX, maxX).map(
      (t) =>
        `<line x1="${sx(t)}" x2="${sx(t)}" y1="${top}" y2="${height - bottom}" class="grid"/><text x="${sx(t)}" y="${height - bottom + 16}" text-anchor="middle">${formatTick(t)}</text>`,
    ),
    ...ticks(minY, maxY).map(
      (t) =>
        `<line x1="${left}" x2="${width - right}" y1="${sy(t)}" y2="${sy(t)}" class="grid"/><text x="${left - 6}" y="${sy(t) + 4}" text-anchor="end">${formatTick(t)}</text>`,
    ),
  ];
  const circles = points.map(
    (p) =>
      `<circle class="point" cx="${sx(p.x)}" cy="${sy(p.y)}" r="3.5" ` +
      `fill="${colours.get(p.target) ?? '#888'}" data-target="${p.target}">` +
      `<title>${escapeHtml(`${p.file}: class ${labels.get(p.target) ?? p.target}`)}</title></circle>`,
  );
  return [
    `<svg class="scatter" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="PCA of mean-pooled image vectors">`,
    ...grid,
    `<rect x="${left}" y="${top}" width="${width - left - right}" height="${height - top - bottom}" class="frame"/>`,
    ...circles,
    `<text x="${(left + width - right) / 2}" y="${height - 6}" text-anchor="middle" class="axis">${escapeHtml(axes[0])}</text>`,
    `<text transform="translate(14 ${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle" class="axis">${escapeHtml(axes[1])}</text>`,
    '</svg>',
  ].join('\n');
}

const OUTCOME_COLOURS: Record<string, string> = {
  extracted: '#4e79a7',
  reused: '#bab0ac',
  interrupted: '#f28e2b',
  failed: '#e15759',
  cancelled: '#e15759',
};

export function timelineSvg(timeline: Timeline): string {
  const shards = timeline.shards;
  const rowHeight = Math.max(3, Math.min(18, Math.floor(480 / Math.max(shards.length, 1))));
  const labelled = rowHeight >= 12;
  const [width, left, right, top, bottom] = [900, labelled ? 92 : 16, 16, 8, 36];
  const height = top + bottom + rowHeight * shards.length;
  const span = timeline.span > 0 ? timeline.span : 1;
  const sx = (t: number) => round(left + (t / span) * (width - left - right));
  const grid = ticks(0, span).map(
    (t) =>
      `<line x1="${sx(t)}" x2="${sx(t)}" y1="${top}" y2="${height - bottom}" class="grid"/><text x="${sx(t)}" y="${height - bottom + 16}" text-anchor="middle">${formatTick(t)}</text>`,
  );
  const rows = shards.flatMap((shard, row) => {
    const y = top + row * rowHeight;
    const label = labelled
      ? [`<text x="${left - 6}" y="${y + rowHeight * 0.75}" text-anchor="end">${shard.split} ${shard.shard}</text>`]
      : [];
    const bars = shard.attempts.map((attempt, k) => {
      // An attempt that never reported its end is drawn up to the shard's next attempt.
      const end =
        attempt.seconds !== null ? attempt.start + attempt.seconds : (shard.attempts[k + 1]?.start ?? attempt.start);
      const barWidth = Math.max(1.5, sx(end) - sx(attempt.start));
      const rate =
        attempt.outcome === 'extracted' && attempt.seconds
          ? `, ${(shard.images / attempt.seconds).toFixed(1)} images/s`
          : '';
      const took = attempt.seconds !== null ? ` in ${attempt.seconds.toFixed(2)} s` : '';
      const title =
        `${shard.split} shard ${shard.shard}, attempt ${attempt.attempt} on ${attempt.worker}: ` +
        `${attempt.outcome}, ${shard.images} images${took}${rate}`;
      return (
        `<rect class="attempt" x="${sx(attempt.start)}" y="${y + 1}" width="${round(barWidth)}" ` +
        `height="${Math.max(1, rowHeight - 2)}" fill="${OUTCOME_COLOURS[attempt.outcome] ?? '#888'}" ` +
        `data-outcome="${attempt.outcome}"><title>${escapeHtml(title)}</title></rect>`
      );
    });
    return [...label, ...bars];
  });
  return [
    `<svg class="timeline" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="shard attempts over time">`,
    ...grid,
    ...rows,
    `<text x="${(left + width - right) / 2}" y="${height - 4}" text-anchor="middle" class="axis">seconds since the first shard started</text>`,
    '</svg>',
  ].join('\n');
}

export const OUTCOME_LEGEND = Object.entries(OUTCOME_COLOURS).filter(([outcome]) => outcome !== 'cancelled');
