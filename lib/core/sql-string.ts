/** A text as a SQL string literal for DuckDB (file paths in read_parquet): quotes doubled. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
