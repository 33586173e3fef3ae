import type { ExampleQuery, ReportData, SearchSummary, Thumbnail } from './report-data.ts';
import { escapeHtml as e } from './svg.ts';

/**
 * The report's search section (html.ts places it): the evaluation's figures and settings, the
 * index's, and a few validation queries beside their nearest training images. Figures the tests
 * read carry data-* attributes (data-map5, data-top1, data-recall, data-query, data-stale).
 */

export const SEARCH_CSS = `
.warn { color: #a04000; }
.query { display: grid; grid-template-columns: 120px 1fr; gap: 12px; margin: 16px 0; padding-top: 12px; border-top: 1px solid var(--line); }
.query .nearest { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.thumb { margin: 0; width: 112px; font-size: 12px; line-height: 1.3; overflow-wrap: anywhere; }
.thumb img, .thumb .none { display: block; width: 96px; height: 96px; border-radius: 4px; border: 3px solid transparent; }
.thumb .none { background: var(--soft); }
.thumb.right img { border-color: #2e7d32; }
.thumb.wrong img { border-color: #c0392b; }
.query ol { margin: 4px 0; padding-left: 20px; font-size: 13px; }
.query li[data-right] { font-weight: 600; }
`;

/** Whether the section holds pictures: the page's policy then allows data: images, and nothing more. */
export function hasThumbnails(search: SearchSummary | undefined): boolean {
  return (search?.examples ?? []).some(
    (q) => 'src' in q.thumbnail || q.images.some((image) => 'src' in image.thumbnail),
  );
}

const fixed = (n: number) => n.toFixed(4);
const percent = (share: number) => `${(share * 100).toFixed(1)} %`;

function settingsText(s: NonNullable<SearchSummary['index']>['settings']): string {
  return (
    `metric ${s.metric} · precision ${s.precision} · connectivity ${s.connectivity} · ` +
    `expansion ${s.expansionAdd} (add) / ${s.expansionSearch} (search)`
  );
}

function stale(what: 'index' | 'evaluation', fix: string): string {
  return (
    `<p class="warn" data-stale="${what}">This ${what} was made from other vectors than the manifest lists now: ` +
    `<code>${e(fix)}</code> makes it again.</p>`
  );
}

function evaluationPart(data: ReportData, evaluation: NonNullable<SearchSummary['evaluation']>): string {
  const cards = [
    ['map5', evaluation.map5, 'MAP@5 (Hotel-ID)', fixed(evaluation.map5)],
    ['top1', evaluation.top1, 'top-1 accuracy', percent(evaluation.top1)],
    ['recall', evaluation.recall.value, `ANN recall@${evaluation.recall.k} vs exact`, fixed(evaluation.recall.value)],
  ] as const;
  const own = evaluation.queries.file.endsWith('validation-vectors.parquet');
  return (
    `<div class="cards">${cards
      .map(
        ([key, value, label, shown]) =>
          `<div class="card"><div class="value" data-${key}="${value}">${shown}</div><div class="label">${e(label)}</div></div>`,
      )
      .join('')}<div class="card"><div class="value" data-count="queries">${evaluation.queries.images}</div>` +
    `<div class="label">${own ? 'occluded validation queries' : 'queries'}</div></div></div>` +
    `<p>Scored ${e(evaluation.evaluatedAt)} (<code>evaluation.json</code>) on ${evaluation.queries.images} ` +
    `${own ? 'occluded validation images' : `images of <code>${e(evaluation.queries.file)}</code>`}: MAP@5 takes up to ` +
    `five distinct classes per query, 1/rank of the first right one (0 if absent). Votes of each query tile's ` +
    `${evaluation.vote.neighbours} nearest tiles; recall over every tile of ${evaluation.recall.images} queries ` +
    `(${evaluation.recall.tiles} tile searches). Index: ${evaluation.index.entries.toLocaleString('en-US')} tiles, ` +
    `${settingsText(evaluation.index.settings)}.</p>` +
    (evaluation.current ? '' : stale('evaluation', `tessera evaluate ${data.out}`))
  );
}

function indexPart(data: ReportData, index: NonNullable<SearchSummary['index']>): string {
  return (
    `<p>Index <code>index/tiles.usearch</code> (usearch ${e(index.engine.version)}): ` +
    `<span data-count="indexEntries">${index.entries.toLocaleString('en-US')}</span> tiles of ` +
    `${index.images.toLocaleString('en-US')} training images, ${index.dimensions} dimensions, ` +
    `${(index.indexBytes / 1e6).toFixed(1)} MB, built ${e(index.builtAt)} in ${index.seconds.toFixed(1)} s; ` +
    `${settingsText(index.settings)}.</p>` +
    (index.current ? '' : stale('index', `tessera index ${data.out}`))
  );
}

function picture(thumbnail: Thumbnail, alt: string): string {
  return 'src' in thumbnail
    ? `<img src="${thumbnail.src}" alt="${e(alt)}" width="96" height="96">`
    : `<span class="none" title="${e(thumbnail.missing)}"></span>`;
}

function queryPart(query: ExampleQuery, labels: Map<number, string>): string {
  const label = (target: number) => e(labels.get(target) ?? String(target));
  const classes = query.classes
    .map((c) => `<li${c.target === query.target ? ' data-right' : ''}>${label(c.target)} (${c.score.toFixed(3)})</li>`)
    .join('');
  const nearest = query.images
    .map(
      (image) =>
        `<figure class="thumb ${image.target === query.target ? 'right' : 'wrong'}" data-nearest="${e(image.file)}">` +
        `${picture(image.thumbnail, image.file)}<figcaption>${e(image.file)}<br>class ${label(image.target)} · ` +
        `${image.score.toFixed(3)} · ${image.matchedTiles} tiles</figcaption></figure>`,
    )
    .join('');
  return (
    `<div class="query" data-query="${e(query.file)}"><figure class="thumb">${picture(query.thumbnail, query.file)}` +
    `<figcaption>${e(query.file)}<br>class ${label(query.target)}</figcaption></figure>` +
    `<div>Top classes: <ol>${classes}</ol><div class="nearest">${nearest}</div></div></div>`
  );
}

export function searchSection(data: ReportData): string {
  const search = data.search;
  if (!search) return '';
  const parts: string[] = [];
  if (!search.index && !search.evaluation)
    parts.push(
      `<p>No index of these vectors: <code>tessera index ${e(data.out)}</code> builds one, ` +
        `<code>tessera evaluate ${e(data.out)}</code> scores it on the run's validation images, and the report ` +
        'then shows both (or <code>tessera run … --index --evaluate</code>).</p>',
    );
  if (search.evaluation) parts.push(evaluationPart(data, search.evaluation));
  if (search.index) parts.push(indexPart(data, search.index));
  if (search.examples.length > 0) {
    const labels = new Map(data.classes.map((c) => [c.target, c.label]));
    parts.push(
      `<h3>Validation queries and their nearest training images</h3><p>The first validation image of each of ` +
        `the first ${search.examples.length} classes, occluded as the run extracted it, ranked as ` +
        `<code>tessera search</code> ranks it: ${e(search.voteRule)}. A green frame is the query's class, a red one ` +
        'another; the figures are the image score and the query tiles it matched.</p>' +
        search.examples.map((query) => queryPart(query, labels)).join(''),
    );
  }
  for (const problem of search.problems) parts.push(`<p class="warn" data-problem>${e(problem)}</p>`);
  return `<section id="search"><h2>Search</h2>${parts.join('')}</section>`;
}
