/** RFC 4180 CSV: quoted fields (with commas, quotes, newlines), CRLF or LF, an optional UTF-8 BOM. */

export interface CsvTable {
  header: string[];
  /** Data rows in file order; blank lines are skipped. */
  rows: string[][];
  /** 1-based line number where each data row starts (for error messages). */
  lines: number[];
}

export class CsvError extends Error {
  override name = 'CsvError';
}

export function parseCsv(text: string, source: string): CsvTable {
  const records: { fields: string[]; line: number }[] = [];
  let field = '';
  let fields: string[] = [];
  let inQuotes = false;
  let line = 1;
  let recordLine = 1;
  let fieldWasQuoted = false;
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  const endRecord = () => {
    fields.push(field);
    const blank = fields.length === 1 && fields[0] === '' && !fieldWasQuoted;
    if (!blank) records.push({ fields, line: recordLine });
    fields = [];
    field = '';
    fieldWasQuoted = false;
  };

  for (let k = start; k < text.length; k++) {
    const ch = text[k]!;
    if (inQuotes) {
      if (ch === '"') {
        if (text[k + 1] === '"') {
          field += '"';
          k++;
        } else {
          inQuotes = false;
        }
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field === '') {
      inQuotes = true;
      fieldWasQuoted = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[k + 1] === '\n') k++;
      endRecord();
      line++;
      recordLine = line;
    } else {
      field += ch;
    }
  }
  if (inQuotes) throw new CsvError(`${source}: unterminated quoted field starting on line ${recordLine}`);
  if (field !== '' || fields.length > 0 || fieldWasQuoted) endRecord();

  const [headerRecord, ...dataRecords] = records;
  if (!headerRecord) throw new CsvError(`${source}: the file is empty (no header row)`);
  const header = headerRecord.fields;
  for (const record of dataRecords) {
    if (record.fields.length !== header.length) {
      throw new CsvError(
        `${source}: line ${record.line} has ${record.fields.length} fields, the header has ${header.length}`,
      );
    }
  }
  return { header, rows: dataRecords.map((r) => r.fields), lines: dataRecords.map((r) => r.line) };
}

/** Quotes a field the way Python's csv module does with QUOTE_MINIMAL (pandas' to_csv default). */
export function formatCsvField(value: string): string {
  if (/[",\r\n]/.test(value)) return `"${value.replaceAll('"', '""')}"`;
  return value;
}

export function formatCsvRow(fields: readonly string[]): string {
  return fields.map(formatCsvField).join(',') + '\n';
}
