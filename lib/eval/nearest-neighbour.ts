import { DuckDBInstance } from '@duckdb/node-api';

export interface ImageEmbedding {
  file: string;
  target: number;
  vector: Float32Array;
}

/** Mean of each image's tile vectors, read from a vectors.parquet with DuckDB. */
export async function meanPooledEmbeddings(vectorsParquet: string): Promise<ImageEmbedding[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(
      `SELECT file, target, vector FROM read_parquet('${vectorsParquet.replaceAll("'", "''")}') ORDER BY i`,
    );
    const byFile = new Map<string, { target: number; sum: Float64Array; count: number }>();
    for (const [file, target, blob] of reader.getRows() as [string, number, { bytes: Uint8Array }][]) {
      const bytes = blob.bytes;
      const tile = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      let entry = byFile.get(file);
      if (!entry) byFile.set(file, (entry = { target, sum: new Float64Array(tile.length), count: 0 }));
      for (let c = 0; c < tile.length; c++) entry.sum[c]! += tile[c]!;
      entry.count++;
    }
    return [...byFile].map(([file, { target, sum, count }]) => ({ file, target, vector: Float32Array.from(sum, (v) => v / count) }));
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Leave-one-out 1-nearest-neighbour class accuracy under cosine similarity. */
export function leaveOneOutAccuracy(embeddings: readonly ImageEmbedding[]): number {
  const unit = embeddings.map(({ vector }) => {
    const norm = Math.sqrt(vector.reduce((s, v) => s + v * v, 0)) || 1;
    return vector.map((v) => v / norm);
  });
  let correct = 0;
  for (let a = 0; a < unit.length; a++) {
    let best = -Infinity;
    let bestIndex = -1;
    for (let b = 0; b < unit.length; b++) {
      if (a === b) continue;
      let dot = 0;
      for (let c = 0; c < unit[a]!.length; c++) dot += unit[a]![c]! * unit[b]![c]!;
      if (dot > best) [best, bestIndex] = [dot, b];
    }
    if (bestIndex >= 0 && embeddings[bestIndex]!.target === embeddings[a]!.target) correct++;
  }
  return embeddings.length > 0 ? correct / embeddings.length : 0;
}
