import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import type { RunConfig } from '../core/run-config.ts';
import { formatCsvRow, openCsv } from '../pandas/csv.ts';
import { describeCsvHeader } from '../pandas/csv-header.ts';
import { InputError } from '../core/errors.ts';
import { setAsideFinishedOutputs } from '../run-folder/output-folder.ts';
import { sha256File } from '../core/hashing.ts';
import { publishFile, uniqueTempPath, writeFileAtomic } from '../run-folder/atomic-files.ts';
import { ClassMappingSchema, SplitRecordSchema, type ClassMapping } from '../run-folder/records.ts';
import { writeRecord } from '../run-folder/records-io.ts';
import { ColumnTyper, compareCodePoints, type ColumnKind, type ColumnTyping } from '../pandas/values.ts';
import { runLayout, type RunLayout } from '../run-folder/layout.ts';
import { localCopy, type LocalCopy } from '../storage/input-copy.ts';
import { withStores, type Stores } from '../storage/open-store.ts';
import { pickValidationRows, SplitError } from './validation-rows.ts';

export interface SplitSummary {
  inputRows: number;
  trainingRows: number;
  validationRows: number;
  classes: number;
  seconds: number;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** The input CSV must be a readable file: say clearly which, and why not, before streaming it. */
async function assertReadableFile(file: string): Promise<void> {
  try {
    const stat = await fs.stat(file);
    if (stat.isDirectory()) throw new InputError(`input CSV ${file} is a folder, not a file`);
    await fs.access(file, fs.constants.R_OK);
  } catch (error) {
    if (error instanceof InputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputError(`input CSV ${file} does not exist`);
    throw new InputError(`cannot read input CSV ${file}: ${(error as Error).message}`);
  }
}

/** An int32 per row, appended one at a time: 4 bytes a row however large the CSV. */
class GrowableInt32Array {
  private buffer = new Int32Array(1024);
  private length = 0;

  push(value: number): void {
    if (this.length === this.buffer.length) {
      const grown = new Int32Array(this.buffer.length * 2);
      grown.set(this.buffer);
      this.buffer = grown;
    }
    this.buffer[this.length++] = value;
  }

  values(): Int32Array {
    return this.buffer.subarray(0, this.length);
  }
}

/** pandas' group order for the class column's dtype, on keys as to_csv writes them. */
export function keyOrder(kind: ColumnKind): (a: string, b: string) => number {
  if (kind === 'int' || kind === 'uint' || kind === 'pyint') {
    // Exact: ids past 2^53 (uint64 ids too) can round to one Number, so ties (and NaN, from
    // Infinity - Infinity) are settled as BigInt. Rounding keeps order, so other results stand.
    return (a, b) => Number(a) - Number(b) || (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);
  }
  if (kind === 'float') {
    // Python's repr writes infinities as 'inf' and '-inf', which Number() reads as NaN.
    const value = (key: string) => (key === 'inf' ? Infinity : key === '-inf' ? -Infinity : Number(key));
    return (a, b) => value(a) - value(b);
  }
  return compareCodePoints; // bool keys 'False' < 'True' sort the same way
}

function classMapping(kind: ColumnKind, keys: string[]): ClassMapping {
  if (kind === 'int' && keys.every((k) => Number(k) >= INT32_MIN && Number(k) <= INT32_MAX)) {
    return { format: 1, mode: 'integer', targets: Object.fromEntries(keys.map((k) => [k, Number(k)])) };
  }
  return { format: 1, mode: 'codes', targets: Object.fromEntries(keys.map((k, code) => [k, code])) };
}

/** Appends lines to a temporary file in large writes, then fsyncs it and publishes it under `file`. */
class CsvFileWriter {
  private pending = '';
  private readonly hash = createHash('sha256');
  private constructor(
    private readonly handle: fs.FileHandle,
    private readonly temp: string,
    private readonly file: string,
  ) {}

  static async create(file: string): Promise<CsvFileWriter> {
    const temp = uniqueTempPath(file);
    return new CsvFileWriter(await fs.open(temp, 'w'), temp, file);
  }

  async write(line: string): Promise<void> {
    this.pending += line;
    this.hash.update(line);
    if (this.pending.length >= 1 << 20) await this.flush();
  }

  /** Writes what is pending and fsyncs; returns the file's sha256. */
  async finish(): Promise<string> {
    await this.flush();
    await this.handle.sync();
    await this.handle.close();
    return this.hash.digest('hex');
  }

  /** Whether the file it replaces holds other bytes (or does not exist). */
  async changes(sha256: string): Promise<boolean> {
    return (await sha256File(this.file).catch(() => undefined)) !== sha256;
  }

  async publish(): Promise<void> {
    await publishFile(this.temp, this.file);
  }

  private async flush(): Promise<void> {
    await this.handle.write(this.pending);
    this.pending = '';
  }
}

/** Pass 1 over the input: its header, how pandas types each column, and each row's class. */
interface InputColumns {
  header: string[];
  typings: ColumnTyping[];
  /** Each distinct raw class value, by its index in `classOfRow`. */
  rawClasses: Map<string, number>;
  /** Each row's raw class, as an index into `rawClasses`. */
  classOfRow: GrowableInt32Array;
}

/** Pass 1: column types; each row's raw class as an index into the distinct raw values. */
async function readInputColumns(config: RunConfig, source: LocalCopy): Promise<InputColumns> {
  const csv = await openCsv(source.file, source.name);
  const missing = [config.idColumn, config.classColumn].filter((name) => !csv.header.includes(name));
  if (missing.length > 0) {
    const names = missing.map((m) => JSON.stringify(m)).join(' or ');
    throw new InputError(`input CSV ${source.name} has no column ${names} (${describeCsvHeader(csv.header)})`);
  }
  const classColumn = csv.header.indexOf(config.classColumn);
  const typers = csv.header.map(() => new ColumnTyper());
  const rawClasses = new Map<string, number>();
  const classOfRow = new GrowableInt32Array();
  for await (const { fields } of csv.rows) {
    for (let c = 0; c < fields.length; c++) typers[c]!.observe(fields[c]!);
    const raw = fields[classColumn]!;
    let code = rawClasses.get(raw);
    if (code === undefined) rawClasses.set(raw, (code = rawClasses.size));
    classOfRow.push(code);
  }
  return { header: csv.header, typings: typers.map((typer) => typer.typing()), rawClasses, classOfRow };
}

/** The split itself, from pass 1 alone: the classes as pandas groups them, and the validation rows. */
interface ClassSplit {
  /** Each row's class, as an index into the keys in first-seen order (-1: no class). */
  keyOfRow: Int32Array;
  /** The class keys in pandas' group order. */
  keys: string[];
  /** Positions of the validation rows, in the order they are written. */
  picked: number[];
  mapping: ClassMapping;
}

function splitClasses(config: RunConfig, source: LocalCopy, columns: InputColumns): ClassSplit {
  const classTyping = columns.typings[columns.header.indexOf(config.classColumn)]!;
  // Raw values that type alike ("007" and "7" in an int column) are one class.
  const keyIndex = new Map<string, number>();
  const keyOfRawClass = [...columns.rawClasses.keys()].map((raw) => {
    const key = classTyping.render(raw);
    if (key === null) return -1;
    if (!keyIndex.has(key)) keyIndex.set(key, keyIndex.size);
    return keyIndex.get(key)!;
  });
  const keyOfRow = columns.classOfRow.values().map((code) => keyOfRawClass[code]!);
  const order = keyOrder(classTyping.kind);
  let picked: number[];
  try {
    picked = pickValidationRows(keyOfRow, [...keyIndex.keys()], config.valSamples, config.seed, order);
  } catch (error) {
    if (error instanceof SplitError) throw new InputError(`${source.name}: ${error.message}`);
    throw error;
  }
  const keys = [...keyIndex.keys()].sort(order);
  return { keyOfRow, keys, picked, mapping: classMapping(classTyping.kind, keys) };
}

/** The input's rows as to_csv writes them, each after its position (the unnamed index column). */
class RowRenderer {
  readonly headerLine: string;
  private readonly idColumn: number;

  constructor(
    config: RunConfig,
    private readonly columns: InputColumns,
  ) {
    this.headerLine = formatCsvRow(['', ...columns.header]);
    this.idColumn = columns.header.indexOf(config.idColumn);
  }

  /** The row's fields as pandas typed them, and its id among them. */
  typed(fields: string[]): { typed: string[]; id: string } {
    const typed = fields.map((text, c) => this.columns.typings[c]!.render(text) ?? '');
    return { typed, id: typed[this.idColumn]! };
  }

  line(position: number, typed: string[]): string {
    return formatCsvRow([String(position), ...typed]);
  }
}

/** Pass 2: validation.csv, its rows in the order picked; and their ids (as pandas typed them, for isin). */
async function writeValidationCsv(
  file: string,
  source: LocalCopy,
  picked: number[],
  rows: RowRenderer,
): Promise<{ csv: CsvFileWriter; sha256: string; ids: Set<string> }> {
  const pickedPositions = new Set(picked);
  const lines = new Map<number, string>();
  const ids = new Set<string>();
  let position = 0;
  for await (const { fields } of (await openCsv(source.file, source.name)).rows) {
    if (pickedPositions.has(position)) {
      const { typed, id } = rows.typed(fields);
      lines.set(position, rows.line(position, typed));
      ids.add(id);
    }
    position++;
  }
  const csv = await CsvFileWriter.create(file);
  await csv.write(rows.headerLine);
  for (const row of picked) await csv.write(lines.get(row)!);
  return { csv, sha256: await csv.finish(), ids };
}

/** Pass 3: training.csv, every row whose id is not a validation id, in input order. */
async function writeTrainingCsv(
  file: string,
  source: LocalCopy,
  validationIds: Set<string>,
  rows: RowRenderer,
): Promise<{ csv: CsvFileWriter; sha256: string; rows: number }> {
  const csv = await CsvFileWriter.create(file);
  await csv.write(rows.headerLine);
  let written = 0;
  let position = 0;
  for await (const { fields } of (await openCsv(source.file, source.name)).rows) {
    const { typed, id } = rows.typed(fields);
    if (!validationIds.has(id)) {
      await csv.write(rows.line(position, typed));
      written++;
    }
    position++;
  }
  return { csv, sha256: await csv.finish(), rows: written };
}

/**
 * Writes training.csv and validation.csv byte for byte as the notebook's pandas code does:
 * read_csv's typing of every column, groupby(class).sample(valSamples, random_state=seed),
 * ~isin on the id column, and to_csv with the unnamed index column first.
 *
 * The input is streamed three times, so memory does not grow with its text: pass 1 types every
 * column and keeps each row's class (as a small integer); the split then needs only those;
 * pass 2 renders the validation rows and collects their ids; pass 3 writes training.csv.
 */
export async function prepareSplit(config: RunConfig, stores?: Stores): Promise<SplitSummary> {
  const started = performance.now();
  const layout = runLayout(config);
  // An object is split from one downloaded copy; a file is read where it is, three times.
  const source = await withStores(stores, (own) => localCopy(layout.inputCsv, own, 'input CSV'));
  try {
    return await splitFrom(config, layout, source, started);
  } finally {
    await source.remove();
  }
}

async function splitFrom(
  config: RunConfig,
  layout: RunLayout,
  source: LocalCopy,
  started: number,
): Promise<SplitSummary> {
  await assertReadableFile(source.file);
  const inputSha256 = await sha256File(source.file);
  const columns = await readInputColumns(config, source);
  const { keyOfRow, keys, picked, mapping } = splitClasses(config, source, columns);
  const rows = new RowRenderer(config, columns);
  await fs.mkdir(layout.work, { recursive: true });
  const validation = await writeValidationCsv(layout.validationCsv, source, picked, rows);
  const training = await writeTrainingCsv(layout.trainingCsv, source, validation.ids, rows);
  // Three passes read the CSV: had it changed in between, the split could mix two versions.
  if ((await sha256File(source.file)) !== inputSha256)
    throw new Error(`input CSV ${source.name} changed while it was being split; the split is made again`);
  await publishSplit(layout, training, validation);
  await writeRecord(layout.splitRecord, SplitRecordSchema, {
    inputCsv: source.name,
    inputSha256,
    trainingSha256: training.sha256,
    validationSha256: validation.sha256,
  });
  await writeRecord(layout.classMapping, ClassMappingSchema, mapping);
  await writeFileAtomic(
    layout.classesCsv,
    formatCsvRow(['target', config.classColumn]) +
      Object.entries(mapping.targets)
        .map(([value, target]) => formatCsvRow([String(target), value]))
        .join(''),
  );
  return {
    inputRows: keyOfRow.length,
    trainingRows: training.rows,
    validationRows: picked.length,
    classes: keys.length,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Publishes the two CSVs. A finished folder run again (its inputs changed, or the run was started
 * anew) keeps its outputs aside first: the shards extracted again copy the vectors of unchanged
 * images from them. A changed split makes every published output stale: they go before the new
 * split appears, so the folder never shows vectors or a manifest of other inputs beside it.
 */
async function publishSplit(
  layout: RunLayout,
  training: { csv: CsvFileWriter; sha256: string },
  validation: { csv: CsvFileWriter; sha256: string },
): Promise<void> {
  await setAsideFinishedOutputs(layout);
  if ((await training.csv.changes(training.sha256)) || (await validation.csv.changes(validation.sha256))) {
    for (const stale of [
      layout.manifest,
      layout.lineageCsv,
      layout.errorsCsv,
      layout.split('train').vectors,
      layout.split('val').vectors,
      layout.split('train').compaction,
      layout.split('val').compaction,
    ]) {
      await fs.rm(stale, { force: true });
    }
  }
  await validation.csv.publish();
  await training.csv.publish();
}
