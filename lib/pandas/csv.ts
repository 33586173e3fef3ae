/** RFC 4180 CSV: quoted fields (with commas, quotes, newlines), CRLF or LF, an optional UTF-8 BOM. */
import { createReadStream } from 'node:fs';
import { InputError } from '../core/errors.ts';

/** A CSV that cannot be read as one (empty, ragged, an unterminated quote): the user's input. */
export class CsvError extends InputError {
  override name = 'CsvError';
}

export interface CsvRecord {
  fields: string[];
  /** 1-based line on which the record starts. */
  line: number;
}

/**
 * An incremental RFC 4180 parser: `push()` text in chunks of any size (a quote, CR or LF may end
 * one chunk and its partner start the next), then `end()`. Blank lines yield no record.
 */
export class CsvRecordParser {
  private field = '';
  private fields: string[] = [];
  private fieldWasQuoted = false;
  private inQuotes = false;
  /** A quote seen inside a quoted field: either an escaped quote or the field's end. */
  private quoteInQuotes = false;
  /** The previous chunk ended a record with CR: a leading LF belongs to it. */
  private afterCarriageReturn = false;
  private started = false;
  private line = 1;
  private recordLine = 1;

  constructor(private readonly source: string) {}

  push(text: string): CsvRecord[] {
    const records: CsvRecord[] = [];
    let k = 0;
    if (!this.started) {
      this.started = text.length > 0;
      if (text.charCodeAt(0) === 0xfeff) k = 1;
    }
    for (; k < text.length; k++) {
      const ch = text[k]!;
      if (this.afterCarriageReturn) {
        this.afterCarriageReturn = false;
        if (ch === '\n') continue;
      }
      if (this.quoteInQuotes) {
        this.quoteInQuotes = false;
        if (ch === '"') {
          this.field += '"';
          continue;
        }
        this.inQuotes = false;
      }
      if (this.inQuotes) {
        if (ch === '"') this.quoteInQuotes = true;
        else {
          if (ch === '\n') this.line++;
          this.field += ch;
        }
        continue;
      }
      if (ch === '"' && this.field === '') {
        this.inQuotes = true;
        this.fieldWasQuoted = true;
      } else if (ch === ',') {
        this.fields.push(this.field);
        this.field = '';
      } else if (ch === '\n' || ch === '\r') {
        this.afterCarriageReturn = ch === '\r';
        this.endRecord(records);
        this.line++;
        this.recordLine = this.line;
      } else {
        this.field += ch;
      }
    }
    return records;
  }

  end(): CsvRecord[] {
    if (this.quoteInQuotes) {
      this.quoteInQuotes = false;
      this.inQuotes = false;
    }
    if (this.inQuotes)
      throw new CsvError(`${this.source}: unterminated quoted field starting on line ${this.recordLine}`);
    const records: CsvRecord[] = [];
    if (this.field !== '' || this.fields.length > 0 || this.fieldWasQuoted) this.endRecord(records);
    return records;
  }

  private endRecord(records: CsvRecord[]): void {
    this.fields.push(this.field);
    const blank = this.fields.length === 1 && this.fields[0] === '' && !this.fieldWasQuoted;
    if (!blank) records.push({ fields: this.fields, line: this.recordLine });
    this.fields = [];
    this.field = '';
    this.fieldWasQuoted = false;
  }
}

function checkWidth(record: CsvRecord, header: string[], source: string): void {
  if (record.fields.length !== header.length) {
    throw new CsvError(
      `${source}: line ${record.line} has ${record.fields.length} fields, the header has ${header.length}`,
    );
  }
}

export interface CsvStream {
  header: string[];
  /** The data records, read from the file as they are consumed; each checked against the header's width. */
  rows: AsyncGenerator<CsvRecord>;
}

async function* recordsOf(file: string, source: string): AsyncGenerator<CsvRecord> {
  const parser = new CsvRecordParser(source);
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }))
    yield* parser.push(chunk as string);
  yield* parser.end();
}

/** Opens a CSV file for streaming: memory holds one chunk of the file, whatever its size. */
export async function openCsv(file: string, source = file): Promise<CsvStream> {
  const records = recordsOf(file, source);
  const first = await records.next();
  if (first.done) throw new CsvError(`${source}: the file is empty (no header row)`);
  const header = first.value.fields;
  async function* rows(): AsyncGenerator<CsvRecord> {
    for await (const record of records) {
      checkWidth(record, header, source);
      yield record;
    }
  }
  return { header, rows: rows() };
}

/** Quotes a field the way Python's csv module does with QUOTE_MINIMAL (pandas' to_csv default). */
export function formatCsvField(value: string): string {
  if (/[",\r\n]/.test(value)) return `"${value.replaceAll('"', '""')}"`;
  return value;
}

export function formatCsvRow(fields: readonly string[]): string {
  return fields.map(formatCsvField).join(',') + '\n';
}
