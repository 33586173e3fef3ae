import { CsvError, openCsv } from '../pandas/csv.ts';

/**
 * errors.csv grouped by what went wrong. A reason names its image ("image file /data/images/x.jpg
 * does not exist"), so grouping by the text itself would give one group per image: the image's
 * id and any path in the text are replaced by "…" first, which leaves the kind of failure.
 */

export interface ErrorGroup {
  stage: string;
  /** The reason with the image's id and paths taken out. */
  reason: string;
  count: number;
  splits: string[];
  /** The first few image ids of the group. */
  examples: string[];
}

const EXAMPLES = 3;

/** What a reason says once the image it names is taken out of it. */
export function reasonKind(reason: string, imageId: string): string {
  let kind = reason;
  // The id first, where it stands as a name of its own or ends a path (an id may hold spaces or
  // commas, which would cut a path short); then whatever paths are left, each where a word starts
  // ("a/b" in running text stays).
  if (imageId.length > 0) {
    const id = imageId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    kind = kind.replace(new RegExp(`(^|[\\s/\\\\'"(=])${id}(?=$|[\\s'"),:;])`, 'g'), '$1…');
  }
  kind = kind.replace(/(^|[\s('"=])(?:[A-Za-z]:)?[\\/][^\s,;:()'"]+/g, '$1…');
  return kind;
}

/** Groups of errors.csv (columns: id, class, split, stage, reason), largest first; and the row count. */
export async function summariseErrors(errorsCsv: string): Promise<{ total: number; groups: ErrorGroup[] }> {
  const csv = await openCsv(errorsCsv);
  const [split, stage, reason] = ['split', 'stage', 'reason'].map((name) => csv.header.indexOf(name));
  if (csv.header.length < 5 || split !== 2 || stage !== 3 || reason !== 4) {
    throw new CsvError(
      `${errorsCsv}: expected the columns id, class, split, stage, reason; found ${csv.header.join(', ')}`,
    );
  }
  const groups = new Map<string, ErrorGroup>();
  let total = 0;
  for await (const { fields } of csv.rows) {
    total++;
    const [imageId, , rowSplit, rowStage, rowReason] = fields as [string, string, string, string, string];
    const kind = reasonKind(rowReason, imageId);
    const key = `${rowStage}\u0000${kind}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { stage: rowStage, reason: kind, count: 0, splits: [], examples: [] }));
    group.count++;
    if (!group.splits.includes(rowSplit)) group.splits.push(rowSplit);
    if (group.examples.length < EXAMPLES) group.examples.push(imageId);
  }
  return { total, groups: [...groups.values()].sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)) };
}
