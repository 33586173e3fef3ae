import type { ReportData, VectorSummary } from './report-data.ts';
import { classColours, escapeHtml as e, OUTCOME_LEGEND, scatterSvg, timelineSvg } from './svg.ts';
import { heldOutValidationNote } from './held-out.ts';
import { hasThumbnails, SEARCH_CSS, searchSection } from './search-section.ts';

/**
 * The report page: one HTML file with its CSS and SVG inline and no script. Its Content Security
 * Policy forbids loading anything (a page with search examples allows data: images, its own
 * inline thumbnails), so the page is the same offline, from a mail attachment, or years later. Elements the tests read carry data-* attributes (data-count, data-accuracy, …).
 */

const CSS = `
:root { color-scheme: light; --ink: #1d2433; --muted: #5b6477; --line: #dfe3ea; --soft: #f5f7fa; --accent: #4e79a7; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); background: #fff; }
main { max-width: 980px; margin: 0 auto; padding: 32px 24px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 40px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
p { margin: 8px 0; }
.muted, figcaption { color: var(--muted); }
code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--soft); padding: 1px 4px; border-radius: 3px; overflow-wrap: break-word; }
dl.run { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 16px 0 0; }
dl.run dt { color: var(--muted); }
dl.run dd { margin: 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: var(--soft); }
.card .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .label { color: var(--muted); font-size: 13px; }
.card.bad .value { color: #c0392b; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 13px; }
td.num, th.num { text-align: right; }
.scroll { max-height: 420px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
.scroll table th { position: sticky; top: 0; background: #fff; }
.bar { display: inline-block; height: 10px; background: var(--accent); border-radius: 2px; vertical-align: middle; }
svg { max-width: 100%; height: auto; font-size: 11px; fill: var(--muted); }
svg .grid { stroke: #eef0f4; }
svg .frame { fill: none; stroke: var(--line); }
svg .axis { font-size: 12px; fill: var(--ink); }
svg .point { fill-opacity: 0.8; stroke: #fff; stroke-width: 0.5; }
figure { margin: 12px 0; }
.legend { list-style: none; padding: 0; margin: 8px 0; display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 13px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 50%; margin-right: 5px; vertical-align: -1px; }
.figure { font-size: 28px; font-weight: 600; }
`;

const int = (n: number) => n.toLocaleString('en-US');
const megabytes = (bytes: number) => `${(bytes / 1e6).toLocaleString('en-US', { maximumFractionDigits: 1 })} MB`;
const percent = (share: number) => `${(share * 100).toFixed(1)} %`;

function card(key: string, value: number, label: string, bad = false): string {
  return `<div class="card${bad && value > 0 ? ' bad' : ''}"><div class="value" data-count="${key}">${int(value)}</div><div class="label">${e(label)}</div></div>`;
}

function runSection(data: ReportData): string {
  const m = data.manifest;
  const option = (name: string) => (name in m.config ? JSON.stringify(m.config[name]) : '?');
  const rows: [string, string][] = [
    ['Output folder', `<code data-run="out">${e(data.out)}</code>`],
    [
      'Model',
      `<code data-run="model">${e(m.model.path)}</code> <span class="muted">sha256 ${e(m.model.sha256.slice(0, 16))}…</span>`,
    ],
    [
      'Finished',
      `<span data-run="manifest-time">${e(m.createdAt)}</span> <span class="muted">(manifest.json, tessera ${e(m.tessera)})</span>`,
    ],
    ['Input', `<code>${e(m.input.csv)}</code>, images in <code>${e(m.input.images)}</code>`],
    [
      'Options',
      ['imgSize', 'output', 'normalize', 'executionProvider', 'splits', 'shardSize', 'valSamples', 'seed']
        .map((name) => `${name} ${e(option(name))}`)
        .join(' · '),
    ],
    ['Workflow', `<code>${e(m.workflow.id)}</code>`],
  ];
  return `<dl class="run">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

function countsSection(data: ReportData): string {
  const c = data.manifest.counts;
  const validation =
    c.validationExtractedImages > 0 ||
    (Array.isArray(data.manifest.config.splits) && data.manifest.config.splits.includes('val'));
  const heldOut = heldOutValidationNote(c.validationImages, validation);
  const cards = [
    card('inputRows', c.inputRows, 'input rows'),
    card('trainingImages', c.trainingImages, 'training images'),
    card('extractedImages', c.extractedImages, 'extracted'),
    card('rows', c.rows, `rows (${c.tilesPerImage} tiles × ${c.channels} channels)`),
    card('validationImages', c.validationImages, `validation images${heldOut ? ` ${heldOut}` : ''}`),
    ...(validation
      ? [
          card('validationExtractedImages', c.validationExtractedImages, 'validation extracted'),
          card('validationRows', c.validationRows, 'validation rows'),
        ]
      : []),
    card('errors', c.errors, 'errors', true),
    card('shards', c.shards, 'shards'),
  ];
  const groups = data.errors.groups.map(
    (g) =>
      `<tr data-error-group><td class="num" data-error-count>${int(g.count)}</td><td>${e(g.stage)}</td>` +
      `<td>${e(g.reason)}</td><td>${e(g.splits.join(', '))}</td>` +
      `<td>${g.examples.map((x) => `<code>${e(x)}</code>`).join(' ')}${g.count > g.examples.length ? ' …' : ''}</td></tr>`,
  );
  const errors =
    data.errors.total === 0
      ? '<p>No errors: every input row produced vectors.</p>'
      : `<p>${int(data.errors.total)} rows of <code>errors.csv</code> produced no vectors, by reason (the image's name and paths taken out of the text):</p>
<table><thead><tr><th class="num">rows</th><th>stage</th><th>reason</th><th>split</th><th>for example</th></tr></thead><tbody>${groups.join('')}</tbody></table>`;
  return `<section id="counts"><h2>Counts</h2><div class="cards">${cards.join('')}</div><h3>Errors by reason</h3>${errors}</section>`;
}

function timelineSection(data: ReportData): string {
  const t = data.timeline;
  const totals = data.manifest.timings;
  const rows = t.shards.map((s) => {
    const last = s.attempts.at(-1);
    const end = last && last.seconds !== null ? last.start + last.seconds : null;
    return (
      `<tr data-shard="${s.split}-${s.shard}"><td>${s.split}</td><td class="num">${s.shard}</td>` +
      `<td class="num">${int(s.images)}</td><td class="num">${last ? last.start.toFixed(2) : '–'}</td>` +
      `<td class="num">${end !== null ? end.toFixed(2) : '–'}</td>` +
      `<td class="num">${last?.seconds != null ? last.seconds.toFixed(2) : '–'}</td>` +
      `<td class="num" data-rate>${s.imagesPerSecond !== null ? s.imagesPerSecond.toFixed(1) : '–'}</td>` +
      `<td>${s.attempts.map((a) => e(a.outcome)).join(', ')}</td></tr>`
    );
  });
  const legend = OUTCOME_LEGEND.map(
    ([outcome, colour]) =>
      `<li><span class="swatch" style="background:${colour}"></span>${outcome === 'failed' ? 'failed or cancelled' : outcome}</li>`,
  ).join('');
  const overall =
    t.imagesPerSecond !== null
      ? `${t.imagesPerSecond.toFixed(1)} images/s over the ${t.span.toFixed(1)} s from the first shard's start to the last one's end`
      : 'no shard was extracted in this run (all reused)';
  const stages =
    `split ${totals.split.toFixed(2)} s, plan ${totals.plan.toFixed(2)} s, ` +
    `extract ${totals.extract.toFixed(2)} s (first shard handed out to last one done), ` +
    `compact ${totals.compact.toFixed(2)} s, whole run ${totals.total.toFixed(2)} s`;
  const caption = `Each bar is one attempt at a shard (from the attempt logs gathered in manifest.json), started at ${e(t.origin ?? '?')}.`;
  const head =
    '<th>split</th><th class="num">shard</th><th class="num">images</th><th class="num">start s</th>' +
    '<th class="num">end s</th><th class="num">seconds</th><th class="num">images/s</th><th>attempts</th>';
  return `<section id="timeline"><h2>Shards over time</h2>
<p>Extraction: <strong data-overall-rate>${overall}</strong>. Workflow stages: ${stages}.</p>
<figure>${timelineSvg(t)}<figcaption>${caption} <ul class="legend">${legend}</ul></figcaption></figure>
<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div>
<p class="muted">Start and end are seconds since the first shard started (last attempt); images/s is the shard's images ÷ the time of the attempt that extracted it.</p></section>`;
}

function classesSection(data: ReportData): string {
  const hasValidation = data.classes.some((c) => c.validation !== null);
  const most = Math.max(1, ...data.classes.map((c) => c.training));
  const rows = data.classes.map(
    (c) =>
      `<tr data-class="${c.target}"><td>${e(c.label)}</td><td class="num">${c.target}</td>` +
      `<td class="num" data-class-images>${int(c.training)}</td>` +
      `<td><span class="bar" style="width:${Math.round((c.training / most) * 160)}px"></span></td>` +
      `${hasValidation ? `<td class="num">${int(c.validation ?? 0)}</td>` : ''}</tr>`,
  );
  const head =
    '<th>class</th><th class="num">target</th><th class="num">training images</th><th></th>' +
    (hasValidation ? '<th class="num">validation images</th>' : '');
  return `<section id="classes"><h2>Images per class</h2><p>${int(data.classes.length)} classes; extracted images counted in the vectors files (rows ÷ tiles per image).</p>
<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div></section>`;
}

function vectorsSection(data: ReportData, v: VectorSummary | null): string {
  if (!v) return '<section id="vectors"><h2>Vectors</h2><p>This run extracted no training vectors.</p></section>';
  const how = v.complete
    ? `every image of <code>${e(v.file)}</code> (<span data-sampled>${int(v.sampled)}</span> images; ${megabytes(v.bytesRead)} read)`
    : `<span data-sampled>${int(v.sampled)}</span> images of the ${int(v.totalImages)} in <code>${e(v.file)}</code>: ` +
      `the first images of ${int(v.rowGroupsRead)} of its ${int(v.rowGroups)} row groups, spread evenly over the file, ` +
      `at most ${int(Math.floor(v.maxImages / Math.max(v.rowGroupsRead, 1)))} each ` +
      `(${int(v.pagesRead)} vector pages${v.wholeGroups > 0 ? `, ${v.wholeGroups} groups read whole` : ''}): ` +
      `${megabytes(v.bytesRead)} read of the file's ${megabytes(v.fileBytes)}`;
  const classes = data.classes.map((c) => c.target);
  const colours = classColours(classes);
  const labels = new Map(data.classes.map((c) => [c.target, c.label]));
  const inSample = new Map<number, number>();
  for (const p of v.pca?.points ?? []) inSample.set(p.target, (inSample.get(p.target) ?? 0) + 1);
  const legend = [...inSample.keys()]
    .sort((a, b) => a - b)
    .map(
      (target) =>
        `<li data-target="${target}"><span class="swatch" style="background:${colours.get(target) ?? '#888'}"></span>` +
        `${e(labels.get(target) ?? String(target))} <span class="muted">(${inSample.get(target)})</span></li>`,
    );
  const scatter = v.pca
    ? `<figure>${scatterSvg(v.pca.points, colours, labels, [`PC1 (${percent(v.pca.explained[0])} of variance)`, `PC2 (${percent(v.pca.explained[1])})`])}` +
      `<figcaption>Each point is one image's mean-pooled vector (the mean of its ${v.tilesPerImage} tile vectors, ` +
      `${v.channels} channels), projected on the sample's first two principal components; colour is the class.</figcaption>` +
      `<ul class="legend" data-legend>${legend.join('')}</ul></figure>`
    : '<p>Too few images for a projection.</p>';
  const nn = v.nearestNeighbour;
  const accuracy = nn
    ? '<p>Leave-one-out nearest-neighbour accuracy, cosine similarity: ' +
      `<span class="figure" data-accuracy="${nn.accuracy.toFixed(6)}">${percent(nn.accuracy)}</span> ` +
      `of ${int(nn.images)} sampled images (${int(nn.classes)} classes) have a nearest other image of their own class; ` +
      `a neighbour drawn at random would be of the same class ${percent(nn.chance)} of the time.</p>`
    : '';
  return `<section id="vectors"><h2>Vectors</h2><p>Sample: ${how}. Computed in ${v.seconds.toFixed(1)} s.</p>${scatter}${accuracy}</section>`;
}

export function renderReport(data: ReportData): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'${hasThumbnails(data.search) ? '; img-src data:' : ''}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tessera report: ${e(data.out)}</title>
<style>${CSS}${SEARCH_CSS}</style>
</head>
<body>
<main>
<h1>tessera run report</h1>
<p class="muted">Made ${e(data.generatedAt)} by <code>tessera report</code> ${e(data.tessera)}.</p>
${runSection(data)}
${countsSection(data)}
${timelineSection(data)}
${classesSection(data)}
${vectorsSection(data, data.vectors)}
${searchSection(data)}
</main>
</body>
</html>
`;
}
