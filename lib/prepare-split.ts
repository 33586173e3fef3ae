import fs from 'node:fs/promises';
import type { RunConfig, Split } from './config.ts';
import { CsvError, formatCsvRow, parseCsv } from './csv.ts';
import { InputError } from './errors.ts';
import { writeFileAtomic, writeJsonAtomic } from './atomic-files.ts';
import { compareCodePoints, typeColumn, type TypedColumn } from './pandas-values.ts';
import { runLayout } from './run-layout.ts';
import { SplitError, splitByClass, type IndexedRow } from './split.ts';

/** An input row that will produce no vectors, and why (ends up in errors.csv). */
export interface RejectedRow {
  imageId: string;
  classValue: string;
  /** The split whose CSV holds the row. */
  split: Split;
  stage: 'plan' | 'extract';
  reason: string;
  /** The row's ordinal in its split's CSV. */
  position: number;
}

export interface SplitSummary {
  inputRows: number;
  trainingRows: number;
  validationRows: number;
  classes: number;
  seconds: number;
}

/**
 * class value (as written in the split CSVs) → int32 target. Integer class ids are their own
 * target; any other class column (strings, floats, ids beyond int32) gets codes 0…K−1 in pandas'
 * group order. Written to .tessera/classes.json and, for people, classes.csv.
 */
export interface ClassMapping {
  mode: 'integer' | 'codes';
  targets: Record<string, number>;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

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

/** pandas' group order for the class column's dtype. */
function keyOrder(column: TypedColumn): (a: string, b: string) => number {
  if (column.kind === 'int' || column.kind === 'float') return (a, b) => Number(a) - Number(b);
  return compareCodePoints; // bool keys 'False' < 'True' sort the same way
}

function classMapping(column: TypedColumn, order: (a: string, b: string) => number): ClassMapping {
  const keys = [...new Set(column.values.filter((v): v is string => v !== null))].sort(order);
  if (column.kind === 'int' && keys.every((k) => Number(k) >= INT32_MIN && Number(k) <= INT32_MAX)) {
    return { mode: 'integer', targets: Object.fromEntries(keys.map((k) => [k, Number(k)])) };
  }
  return { mode: 'codes', targets: Object.fromEntries(keys.map((k, code) => [k, code])) };
}

/**
 * Writes training.csv and validation.csv byte for byte as the notebook's pandas code does:
 * read_csv's typing of every column, groupby(class).sample(valSamples, random_state=seed),
 * ~isin on the id column, and to_csv with the unnamed index column first.
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

  const columns = table.header.map((_, c) => typeColumn(table.rows.map((fields) => fields[c]!)));
  const rows: IndexedRow[] = table.rows.map((_, index) => ({ index, fields: columns.map((column) => column.values[index] ?? '') }));
  const classes = columns[classColumn]!;
  const order = keyOrder(classes);
  let split;
  try {
    split = splitByClass(rows, (row) => classes.values[row.index]!, (row) => row.fields[idColumn]!, config.valSamples, config.seed, order);
  } catch (error) {
    if (error instanceof SplitError) throw new InputError(`${layout.inputCsv}: ${error.message}`);
    throw error;
  }
  const mapping = classMapping(classes, order);

  await fs.mkdir(layout.work, { recursive: true });
  const toCsv = (part: IndexedRow[]) =>
    formatCsvRow(['', ...table.header]) + part.map((row) => formatCsvRow([String(row.index), ...row.fields])).join('');
  await writeFileAtomic(layout.trainingCsv, toCsv(split.training));
  await writeFileAtomic(layout.validationCsv, toCsv(split.validation));
  await writeJsonAtomic(layout.classMapping, mapping);
  await writeFileAtomic(
    layout.classesCsv,
    formatCsvRow(['target', config.classColumn]) + Object.entries(mapping.targets).map(([value, target]) => formatCsvRow([String(target), value])).join(''),
  );
  return {
    inputRows: table.rows.length,
    trainingRows: split.training.length,
    validationRows: split.validation.length,
    classes: Object.keys(mapping.targets).length,
    seconds: (performance.now() - started) / 1000,
  };
}
