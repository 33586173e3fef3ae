import { DuckDBInstance } from '@duckdb/node-api';

/**
 * Images per class in a vectors file: its rows per target ÷ tiles per image (every extracted image
 * has exactly that many rows). DuckDB reads only the `target` column, dictionary-encoded runs of
 * a few bytes per row group, so even a file of millions of images is counted in a moment without
 * touching its vectors.
 */
export async function imagesPerClass(files: readonly string[], tilesPerImage: number): Promise<Map<number, number>[]> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: '256MB' });
  const connection = await instance.connect();
  try {
    const counts: Map<number, number>[] = [];
    for (const file of files) {
      const reader = await connection.runAndReadAll(
        `SELECT target, count(*) AS n FROM read_parquet('${file.replaceAll("'", "''")}') GROUP BY target ORDER BY target`,
      );
      const perClass = new Map<number, number>();
      for (const [target, rows] of reader.getRows()) {
        if (typeof target !== 'number' || typeof rows !== 'bigint')
          throw new Error(`${file}: unexpected types ${typeof target}, ${typeof rows} in its target counts`);
        perClass.set(target, Number(rows) / tilesPerImage);
      }
      counts.push(perClass);
    }
    return counts;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
