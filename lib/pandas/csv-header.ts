/**
 * What a failure may say about the first line of a file given as the input CSV. Failures reach
 * whoever started the run, who may not be allowed to read that file: its column names are shown
 * only when the line parses as a CSV header (a comma between names, short, plain text), never the
 * first line of a binary file, a key, a token or any other file that is not a CSV.
 */

/** Longer lines are not column names a person would need to see listed. */
const MAX_HEADER_CHARS = 1000;
const MAX_COLUMN_CHARS = 100;
/** Control characters other than tab, and U+FFFD (bytes that are not UTF-8): a binary file. */
// eslint-disable-next-line no-control-regex
const NOT_TEXT = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\ufffd]/;

export function looksLikeCsvHeader(header: readonly string[]): boolean {
  if (header.length < 2) return false;
  if (header.reduce((chars, name) => chars + name.length + 1, 0) > MAX_HEADER_CHARS) return false;
  return header.every((name) => name.length <= MAX_COLUMN_CHARS && !NOT_TEXT.test(name));
}

/** `columns: a, b` for a CSV header; for anything else a description that quotes none of it. */
export function describeCsvHeader(header: readonly string[]): string {
  if (looksLikeCsvHeader(header)) return `columns: ${header.join(', ')}`;
  return 'its first line is not a CSV header of comma-separated column names, so it is not shown';
}
