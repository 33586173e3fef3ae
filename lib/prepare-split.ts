import fs from 'node:fs/promises';
import type { RunConfig, Split } from './config.ts';
import { CsvError, formatCsvRow, parseCsv } from './csv.ts';
import { InputError } from './errors.ts';
import { writeFileAtomic, writeJsonAtomic } from './atomic-files.ts';
import { runLayout } from './run-layout.ts';
import { SplitError, splitByClass, type IndexedRow } from './split.ts';

/** An input row that will produce no vectors, and why (ends up in errors.csv). */
export interface RejectedRow {
  imageId: string;
  classValue: string;
  /** The split it was extracted for; null for rows the split itself set aside. */
  split: Split | null;
  stage: 'split' | 'extract';
  reason: string;
  /** Ordinal in the split's CSV for extract-stage errors; input CSV line for split-stage errors. */
  position: number;
}

export interface SplitSummary {
  inputRows: number;
  trainingRows: number;
  validationRows: number;
  classes: number;
  rejectedRows: number;
  seconds: number;
}

const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);

export function parseClassId(value: string): number | undefined {
  if (!/^\s*[+-]?\d+\s*$/.test(value)) return undefined;
  const n = Number(value);
  return n >= INT32_MIN && n <= INT32_MAX ? n : undefined;
}

async function readInputCsv(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputError(`input CSV ${file} does not exist`);
    if (code === 'EISDIR') throw new InputError(`input CSV ${file} is a folder, not a file`);
    throw new InputError(`cannot read input CSV ${file}: ${(error as Error).message}`);
  }
}

/**
 * Writes training.csv and validation.csv as the notebook does (pandas' to_csv with the unnamed
 * index column first). Rows whose class id is not an int32 or whose image id is empty cannot
 * become vectors: they are kept out of the split and reported.
 */
export async function prepareSplit(config: RunConfig): Promise<SplitSummary> {
  const started = performance.now();
  const layout = runLayout(config);
  let table;
  try {
    table = parseCsv(await readInputCsv(layout.inputCsv), layout.inputCsv);
  } catch (error) {
    if (error instanceof CsvError) throw new InputError(error.message);
    throw error;
  }
  const idColumn = table.header.indexOf(config.idColumn);
  const classColumn = table.header.indexOf(config.classColumn);
  const missing = [config.idColumn, config.classColumn].filter((name) => !table.header.includes(name));
  if (missing.length > 0) {
    throw new InputError(
      `input CSV ${layout.inputCsv} has no column ${missing.map((m) => JSON.stringify(m)).join(' or ')} (columns: ${table.header.join(', ')})`,
    );
  }

  const accepted: IndexedRow[] = [];
  const rejected: RejectedRow[] = [];
  table.rows.forEach((fields, index) => {
    const imageId = fields[idColumn]!;
    const classValue = fields[classColumn]!;
    const line = table.lines[index]!;
    let reason: string | undefined;
    if (imageId.trim() === '') reason = `empty ${config.idColumn}`;
    else if (parseClassId(classValue) === undefined) reason = `${config.classColumn} ${JSON.stringify(classValue)} is not a 32-bit integer`;
    if (reason) rejected.push({ imageId, classValue, split: null, stage: 'split', reason: `line ${line}: ${reason}`, position: line });
    else accepted.push({ index, fields });
  });

  let split;
  try {
    split = splitByClass(accepted, (row) => row.fields[classColumn]!, (row) => row.fields[idColumn]!, config.valSamples, config.seed);
  } catch (error) {
    if (error instanceof SplitError) throw new InputError(`${layout.inputCsv}: ${error.message}`);
    throw error;
  }

  await fs.mkdir(layout.work, { recursive: true });
  const toCsv = (rows: IndexedRow[]) =>
    formatCsvRow(['', ...table.header]) + rows.map((row) => formatCsvRow([String(row.index), ...row.fields])).join('');
  await writeFileAtomic(layout.trainingCsv, toCsv(split.training));
  await writeFileAtomic(layout.validationCsv, toCsv(split.validation));
  await writeJsonAtomic(layout.splitReport, { rejected });

  return {
    inputRows: table.rows.length,
    trainingRows: split.training.length,
    validationRows: split.validation.length,
    classes: new Set(accepted.map((row) => row.fields[classColumn]!)).size,
    rejectedRows: rejected.length,
    seconds: (performance.now() - started) / 1000,
  };
}
