/**
 * How pandas' read_csv types a column and how DataFrame.to_csv writes it back: what makes
 * training.csv and validation.csv byte-identical to the notebook's, extra columns included.
 */

/** pandas' default na_values: read as NaN, written back as an empty field. */
const NA_VALUES = new Set([
  '',
  '#N/A',
  '#N/A N/A',
  '#NA',
  '-1.#IND',
  '-1.#QNAN',
  '-NaN',
  '-nan',
  '1.#IND',
  '1.#QNAN',
  '<NA>',
  'N/A',
  'NA',
  'NULL',
  'NaN',
  'None',
  'n/a',
  'nan',
  'null',
]);
const TRUE_VALUES = new Set(['True', 'TRUE', 'true']);
const FALSE_VALUES = new Set(['False', 'FALSE', 'false']);
/** C's isspace, which pandas' tokenizer and Python's int() skip (JS's \s would also take U+00A0 and co.). */
const SPACE = '[ \\t\\n\\v\\f\\r]';
const INT_PATTERN = new RegExp(`^${SPACE}*[+-]?\\d+${SPACE}*$`);
const FLOAT_PATTERN = new RegExp(
  `^${SPACE}*[+-]?(\\d+\\.?\\d*(e[+-]?\\d+)?|\\.\\d+(e[+-]?\\d+)?|inf|infinity)${SPACE}*$`,
  'i',
);
/** What Python's int(text) accepts: also single underscores between digits. */
const PYTHON_INT_PATTERN = new RegExp(`^${SPACE}*[+-]?\\d+(_\\d+)*${SPACE}*$`);
/** Python refuses int() of longer digit strings (sys.get_int_max_str_digits(), leading zeros count). */
const PYTHON_INT_MAX_DIGITS = 4300;
const LEADING_MINUS = new RegExp(`^${SPACE}*-`);
const TRAILING_SPACE = new RegExp(`${SPACE}$`);
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * The dtype read_csv gives a column: int64 ('int'), uint64 ('uint': ints beyond int64, none
 * negative, no NaN), object holding Python ints ('pyint': beyond uint64, or below int64),
 * float64, bool, or object/str ('object').
 */
export type ColumnKind = 'int' | 'uint' | 'pyint' | 'float' | 'bool' | 'object';

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

/** Why pandas' parser for an integer dtype refuses a field. */
type IntegerError = 'overflow' | 'invalid';

/** Why the parser for [min, max] refuses a field, undefined if it fits; `value` is the field as an integer, if written as one. */
function integerError(text: string, value: bigint | undefined, min: bigint, max: bigint): IntegerError | undefined {
  if (value === undefined) return 'invalid';
  if (value >= min && value <= max) return undefined;
  // Seen with pandas 3.1: out of range with trailing spaces is invalid, so pandas tries float next.
  return TRAILING_SPACE.test(text) ? 'invalid' : 'overflow';
}

function isPythonInt(text: string): boolean {
  return (
    PYTHON_INT_PATTERN.test(text) &&
    (text.length <= PYTHON_INT_MAX_DIGITS || text.replace(/\D/g, '').length <= PYTHON_INT_MAX_DIGITS)
  );
}

const renderInteger = (text: string) => (isNaValue(text) ? null : BigInt(text.trim().replaceAll('_', '')).toString());

const renderIntegerAsFloat = (text: string) => (isNaValue(text) ? null : pythonFloatRepr(Number(BigInt(text.trim()))));

const renderFloat = (text: string) => {
  if (isNaValue(text)) return null;
  const n = parseFloatText(text);
  return Number.isNaN(n) ? null : pythonFloatRepr(n);
};

/**
 * Types a column as read_csv's C parser does, one value at a time (so a CSV can be streamed):
 * `observe()` every field of the column, then `typing()` says how to_csv writes each field back.
 *
 * The C parser tries int64, float64, bool, then strings. When int64 overflows it tries uint64,
 * then Python ints, and when those fail it keeps the fields as read, NA markers included. Each
 * integer attempt stops at its first bad field, so which field comes first can matter: the
 * typer records the first error of each attempt, in field order.
 */
export class ColumnTyper {
  private present = 0;
  private hasNa = false;
  /** The int64 attempt's first non-int64 field: an overflow leads to uint64, anything else to float. */
  private int64Error: IntegerError | undefined;
  /** The uint64 attempt's first error: an overflow leads to Python ints, anything else to float. */
  private uint64Error: IntegerError | undefined;
  /** uint64 flags any field starting with '-' (reading no further) and any beyond int64. */
  private seenNegative = false;
  private seenBeyondInt64 = false;
  private allPythonInts = true;
  private allFloat = true;
  private allBool = true;

  observe(text: string): void {
    if (isNaValue(text)) {
      this.hasNa = true;
      return;
    }
    this.present++;
    if (this.int64Error !== 'invalid') this.observeInteger(text);
    if (this.allFloat && !FLOAT_PATTERN.test(text)) this.allFloat = false;
    if (this.allBool && !(TRUE_VALUES.has(text) || FALSE_VALUES.has(text))) this.allBool = false;
  }

  private observeInteger(text: string): void {
    const value = INT_PATTERN.test(text) ? BigInt(text.trim()) : undefined;
    this.int64Error ??= integerError(text, value, INT64_MIN, INT64_MAX);
    if (this.uint64Error === undefined) {
      if (LEADING_MINUS.test(text)) this.seenNegative = true;
      else {
        this.uint64Error = integerError(text, value, 0n, UINT64_MAX);
        if (this.uint64Error === undefined && value! > INT64_MAX) this.seenBeyondInt64 = true;
      }
    }
    if (this.allPythonInts && !isPythonInt(text)) this.allPythonInts = false;
  }

  /** Where read_csv's integer attempts end: a dtype, the fields as read, or on to float (undefined). */
  private integerOutcome(): 'int' | 'uint' | 'pyint' | 'verbatim' | undefined {
    if (this.present === 0) return undefined;
    if (this.int64Error === undefined) return 'int';
    if (this.int64Error === 'invalid' || this.uint64Error === 'invalid') return undefined;
    if (this.uint64Error === undefined) {
      // uint64 beside negatives or NaN is "Cannot convert to numerical dtype": fields kept as read.
      if (this.seenBeyondInt64 && (this.seenNegative || this.hasNa)) return 'verbatim';
      if (!this.seenNegative) return 'uint';
    }
    // Beyond uint64 or below int64: Python ints (NaN allowed), else the fields as read.
    return this.allPythonInts ? 'pyint' : 'verbatim';
  }

  typing(): ColumnTyping {
    switch (this.integerOutcome()) {
      // Integers with NaN become floats, cast from int64 (so "-0" is 0.0).
      case 'int':
        return this.hasNa ? { kind: 'float', render: renderIntegerAsFloat } : { kind: 'int', render: renderInteger };
      case 'uint':
        return { kind: 'uint', render: renderInteger };
      case 'pyint':
        return { kind: 'pyint', render: renderInteger };
      case 'verbatim':
        return { kind: 'object', render: (text) => text };
      case undefined:
        break;
    }
    if (this.present === 0 || this.allFloat) return { kind: 'float', render: renderFloat };
    if (this.allBool) {
      // With NaN the column is object dtype holding Python bools: written the same way.
      return {
        kind: this.hasNa ? 'object' : 'bool',
        render: (text) => (isNaValue(text) ? null : TRUE_VALUES.has(text) ? 'True' : 'False'),
      };
    }
    return { kind: 'object', render: (text) => (isNaValue(text) ? null : text) };
  }
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
