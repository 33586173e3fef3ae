/**
 * How pandas' read_csv types a column and how DataFrame.to_csv writes it back: what makes
 * training.csv and validation.csv byte-identical to the notebook's, extra columns included.
 */

/** pandas' default na_values: read as NaN, written back as an empty field. */
const NA_VALUES = new Set([
  '', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN',
  '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null',
]);
const TRUE_VALUES = new Set(['True', 'TRUE', 'true']);
const FALSE_VALUES = new Set(['False', 'FALSE', 'false']);
const INT_PATTERN = /^\s*[+-]?\d+\s*$/;
const FLOAT_PATTERN = /^\s*[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf|infinity)\s*$/i;
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

export type ColumnKind = 'int' | 'float' | 'bool' | 'object';

export interface TypedColumn {
  kind: ColumnKind;
  /** Each value as to_csv writes it; null where pandas holds NaN. */
  values: (string | null)[];
  /** Numeric value for int and float columns (sorting group keys). */
  numbers?: number[];
}

export function isNaValue(text: string): boolean {
  return NA_VALUES.has(text);
}

function parseFloatText(text: string): number {
  const t = text.trim().toLowerCase();
  if (t.endsWith('inf') || t.endsWith('infinity')) return t.startsWith('-') ? -Infinity : Infinity;
  return Number(t);
}

/** Python's repr(float): shortest round-trip digits, scientific below 1e-4 and from 1e16. */
export function pythonFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exponent < -4 || exponent >= 16) {
    const body = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${body}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const integer = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = digits.slice(exponent + 1);
  return `${sign}${integer}.${fraction === '' ? '0' : fraction}`;
}

/** How a typed column writes one raw field back (null where pandas holds NaN). */
export interface ColumnTyping {
  kind: ColumnKind;
  render(text: string): string | null;
}

function fitsInt64(text: string): boolean {
  const n = BigInt(text.trim());
  return n >= INT64_MIN && n <= INT64_MAX;
}

const renderFloat = (text: string) => {
  if (isNaValue(text)) return null;
  const n = parseFloatText(text);
  return Number.isNaN(n) ? null : pythonFloatRepr(n);
};

/**
 * Types a column as read_csv's C parser does, one value at a time (so a CSV can be streamed):
 * `observe()` every field of the column, then `typing()` says how to_csv writes each field back.
 */
export class ColumnTyper {
  private present = 0;
  private hasNa = false;
  private allInt = true;
  private allFloat = true;
  private allBool = true;

  observe(text: string): void {
    if (isNaValue(text)) {
      this.hasNa = true;
      return;
    }
    this.present++;
    if (this.allInt && !(INT_PATTERN.test(text) && fitsInt64(text))) this.allInt = false;
    if (this.allFloat && !FLOAT_PATTERN.test(text)) this.allFloat = false;
    if (this.allBool && !(TRUE_VALUES.has(text) || FALSE_VALUES.has(text))) this.allBool = false;
  }

  typing(): ColumnTyping {
    // Integers with NaN become floats; beyond int64 pandas falls back to float too.
    if (this.present > 0 && this.allInt && !this.hasNa) return { kind: 'int', render: (text) => BigInt(text.trim()).toString() };
    if (this.present === 0 || this.allInt || this.allFloat) return { kind: 'float', render: renderFloat };
    if (this.allBool) {
      // With NaN the column is object dtype holding Python bools: written the same way.
      return { kind: this.hasNa ? 'object' : 'bool', render: (text) => (isNaValue(text) ? null : TRUE_VALUES.has(text) ? 'True' : 'False') };
    }
    return { kind: 'object', render: (text) => (isNaValue(text) ? null : text) };
  }
}

/** Types one whole column as read_csv's C parser does, and renders it as to_csv would. */
export function typeColumn(raw: readonly string[]): TypedColumn {
  const typer = new ColumnTyper();
  for (const text of raw) typer.observe(text);
  const { kind, render } = typer.typing();
  const values = raw.map(render);
  if (kind === 'int') return { kind, values, numbers: raw.map((v) => Number(v)) };
  if (kind === 'float') return { kind, values, numbers: raw.map((v) => (isNaValue(v) ? Number.NaN : parseFloatText(v))) };
  return { kind, values };
}

/** Python's str ordering (by code point), which is how pandas sorts object group keys. */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done || cb.done) return ca.done && cb.done ? 0 : ca.done ? -1 : 1;
    const d = ca.value.codePointAt(0)! - cb.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}
