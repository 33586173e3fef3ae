/**
 * Principal component analysis in plain TypeScript, for the report's scatter plot: the sample is
 * small (at most a few thousand images of a few hundred channels), so the covariance matrix is
 * built whole and its leading eigenvectors are found by block power iteration. No library: the
 * numbers must be checkable by a unit test and the page must not need anything loaded.
 */

export interface Pca {
  /** Mean of every channel over the rows. */
  mean: Float64Array;
  /** The leading principal axes, unit length, largest variance first. */
  components: Float64Array[];
  /** Variance along each component (eigenvalues of the covariance, divided by n − 1). */
  variances: number[];
  /** Sum of every channel's variance (the covariance's trace): variances[k] / total is the share explained. */
  totalVariance: number;
  /** Block iterations until the leading eigenpairs settled. */
  iterations: number;
}

/** Extra vectors iterated beside the k wanted: convergence then goes as λ(k+extra+1)/λk, not λ(k+1)/λk. */
const EXTRA = 4;
const MAX_ITERATIONS = 1000;
const TOLERANCE = 1e-10;

/** The covariance of `rows` (each of the same length), as a flat symmetric d × d matrix. */
export function covariance(rows: readonly ArrayLike<number>[]): { mean: Float64Array; matrix: Float64Array } {
  const n = rows.length;
  const d = rows[0]?.length ?? 0;
  const mean = new Float64Array(d);
  for (const row of rows) {
    if (row.length !== d) throw new Error(`rows of ${row.length} and ${d} values`);
    for (let c = 0; c < d; c++) mean[c]! += row[c]!;
  }
  for (let c = 0; c < d; c++) mean[c]! /= Math.max(n, 1);
  const matrix = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (const row of rows) {
    for (let c = 0; c < d; c++) centred[c] = row[c]! - mean[c]!;
    // The upper triangle only; mirrored below.
    for (let i = 0; i < d; i++) {
      const xi = centred[i]!;
      if (xi === 0) continue;
      const base = i * d;
      for (let j = i; j < d; j++) matrix[base + j]! += xi * centred[j]!;
    }
  }
  const scale = 1 / Math.max(n - 1, 1);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const value = matrix[i * d + j]! * scale;
      matrix[i * d + j] = value;
      matrix[j * d + i] = value;
    }
  }
  return { mean, matrix };
}

/** The first `k` principal components of `rows` (needs at least two rows). */
export function principalComponents(rows: readonly ArrayLike<number>[], k = 2): Pca {
  if (rows.length < 2) throw new Error(`PCA needs at least 2 rows, got ${rows.length}`);
  const { mean, matrix } = covariance(rows);
  const d = mean.length;
  let totalVariance = 0;
  for (let c = 0; c < d; c++) totalVariance += matrix[c * d + c]!;
  const wanted = Math.min(k, d);
  const { vectors, values, iterations } = leadingEigenvectors(matrix, d, wanted);
  return { mean, components: vectors, variances: values, totalVariance, iterations };
}

/** Each row's coordinates along the components (centred on the mean). */
export function project(pca: Pca, rows: readonly ArrayLike<number>[]): number[][] {
  return rows.map((row) =>
    pca.components.map((axis) => {
      let sum = 0;
      for (let c = 0; c < axis.length; c++) sum += (row[c]! - pca.mean[c]!) * axis[c]!;
      return sum;
    }),
  );
}

/**
 * The `k` eigenvectors of largest eigenvalue of a symmetric positive semi-definite d × d matrix:
 * orthogonal (block power) iteration on k + EXTRA vectors with a Rayleigh–Ritz step each time,
 * which separates eigenvectors inside the block even when their eigenvalues are close. Starts
 * from a fixed pseudo-random block, and each vector's largest entry is made positive, so the
 * same input gives the same axes (and the same picture) every time.
 */
export function leadingEigenvectors(
  matrix: Float64Array,
  d: number,
  k: number,
): { vectors: Float64Array[]; values: number[]; iterations: number } {
  const m = Math.min(d, k + EXTRA);
  let seed = 0x2545f491;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5;
  let block: Float64Array[] = Array.from({ length: m }, () => Float64Array.from({ length: d }, random));
  orthonormalise(block);
  let values = new Array<number>(m).fill(0);
  let iterations = 0;
  while (iterations < MAX_ITERATIONS) {
    iterations++;
    const product = block.map((vector) => multiply(matrix, d, vector));
    orthonormalise(product);
    const ritz = rayleighRitz(matrix, d, product);
    const scale = Math.max(Math.abs(ritz.values[0]!), Number.MIN_VALUE);
    const settled = ritz.values.slice(0, k).every((value, i) => Math.abs(value - values[i]!) <= TOLERANCE * scale);
    block = ritz.vectors;
    values = ritz.values;
    if (settled && residual(matrix, d, block, values, k) <= Math.sqrt(TOLERANCE) * scale) break;
  }
  const vectors = block.slice(0, k).map((vector) => {
    let largest = 0;
    for (let c = 1; c < d; c++) if (Math.abs(vector[c]!) > Math.abs(vector[largest]!)) largest = c;
    return vector[largest]! < 0 ? vector.map((v) => -v) : vector;
  });
  return { vectors, values: values.slice(0, k), iterations };
}

function multiply(matrix: Float64Array, d: number, vector: Float64Array): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let sum = 0;
    const base = i * d;
    for (let j = 0; j < d; j++) sum += matrix[base + j]! * vector[j]!;
    out[i] = sum;
  }
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let c = 0; c < a.length; c++) sum += a[c]! * b[c]!;
  return sum;
}

/** Modified Gram–Schmidt, in place; a vector that vanishes is replaced by a fresh unit axis orthogonal to the rest. */
function orthonormalise(vectors: Float64Array[]): void {
  vectors.forEach((vector, i) => {
    for (let attempt = 0; attempt <= vector.length; attempt++) {
      for (let j = 0; j < i; j++) {
        const projection = dot(vector, vectors[j]!);
        for (let c = 0; c < vector.length; c++) vector[c]! -= projection * vectors[j]![c]!;
      }
      const norm = Math.sqrt(dot(vector, vector));
      if (norm > 1e-300) {
        for (let c = 0; c < vector.length; c++) vector[c]! /= norm;
        return;
      }
      // The matrix maps it to nothing (rank below the block's size): try the next axis.
      vector.fill(0);
      vector[(i + attempt) % vector.length] = 1;
    }
  });
}

/** The block rotated to the eigenvectors of its projection QᵀAQ, by decreasing eigenvalue. */
function rayleighRitz(
  matrix: Float64Array,
  d: number,
  block: Float64Array[],
): { vectors: Float64Array[]; values: number[] } {
  const m = block.length;
  const images = block.map((vector) => multiply(matrix, d, vector));
  const small = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) small[i * m + j] = dot(block[i]!, images[j]!);
  const { values, vectors } = jacobiEigen(small, m);
  const order = values.map((value, i) => ({ value, i })).sort((a, b) => b.value - a.value);
  return {
    values: order.map(({ value }) => value),
    vectors: order.map(({ i }) => {
      const out = new Float64Array(d);
      for (let j = 0; j < m; j++) {
        const weight = vectors[j * m + i]!;
        for (let c = 0; c < d; c++) out[c]! += weight * block[j]![c]!;
      }
      return out;
    }),
  };
}

/** Largest ‖Av − λv‖ over the first k pairs. */
function residual(matrix: Float64Array, d: number, vectors: Float64Array[], values: number[], k: number): number {
  let worst = 0;
  for (let i = 0; i < k; i++) {
    const image = multiply(matrix, d, vectors[i]!);
    let sum = 0;
    for (let c = 0; c < d; c++) sum += (image[c]! - values[i]! * vectors[i]![c]!) ** 2;
    worst = Math.max(worst, Math.sqrt(sum));
  }
  return worst;
}

/**
 * Every eigenpair of a small symmetric m × m matrix by cyclic Jacobi rotations. Returns the
 * eigenvalues and the eigenvectors as the columns of a flat m × m matrix.
 */
export function jacobiEigen(input: Float64Array, m: number): { values: number[]; vectors: Float64Array } {
  const a = Float64Array.from(input);
  const v = new Float64Array(m * m);
  for (let i = 0; i < m; i++) v[i * m + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < m; p++) for (let q = p + 1; q < m; q++) off += a[p * m + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = a[p * m + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * m + q]! - a[p * m + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < m; r++) {
          const arp = a[r * m + p]!;
          const arq = a[r * m + q]!;
          a[r * m + p] = c * arp - s * arq;
          a[r * m + q] = s * arp + c * arq;
        }
        for (let r = 0; r < m; r++) {
          const apr = a[p * m + r]!;
          const aqr = a[q * m + r]!;
          a[p * m + r] = c * apr - s * aqr;
          a[q * m + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < m; r++) {
          const vrp = v[r * m + p]!;
          const vrq = v[r * m + q]!;
          v[r * m + p] = c * vrp - s * vrq;
          v[r * m + q] = s * vrp + c * vrq;
        }
      }
    }
  }
  return { values: Array.from({ length: m }, (_, i) => a[i * m + i]!), vectors: v };
}
