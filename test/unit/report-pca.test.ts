import assert from 'node:assert/strict';
import { test } from 'node:test';
import { covariance, jacobiEigen, principalComponents, project } from '../../lib/report/pca.ts';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((sum, v, k) => sum + v * b[k]!, 0);
const unit = (v: number[]) => v.map((x) => x / Math.sqrt(dot(v, v)));

test('covariance: the sample covariance (n − 1) of a small matrix, as computed by hand', () => {
  const { mean, matrix } = covariance([
    [1, 2],
    [3, 6],
    [5, 7],
  ]);
  assert.deepEqual(Array.from(mean), [3, 5]);
  // deviations (−2,−3), (0,1), (2,2): Σxx = 8, Σxy = 10, Σyy = 14, divided by 2
  assert.deepEqual(Array.from(matrix), [4, 5, 5, 7]);
});

test('PCA recovers the known principal axes and variances of points placed on them', () => {
  // Four points ±3u and ±1v around a mean, in 5-D, with u and v orthonormal but not on any
  // coordinate axis: the covariance is exactly (2·9 uuᵀ + 2·1 vvᵀ) / 3 = 6 uuᵀ + ⅔ vvᵀ.
  const u = unit([1, 2, 0, -2, 1]);
  const v0 = [2, -1, 1, 0, 0];
  const along = dot(v0, u);
  const v = unit(v0.map((x, k) => x - along * u[k]!));
  assert.ok(Math.abs(dot(u, v)) < 1e-12);
  const centre = [10, -4, 2, 0, 7];
  const point = (a: number, b: number) => centre.map((c, k) => c + a * u[k]! + b * v[k]!);
  const rows = [point(3, 0), point(-3, 0), point(0, 1), point(0, -1)];
  const pca = principalComponents(rows, 2);

  assert.equal(pca.components.length, 2);
  assert.ok(
    Math.abs(Math.abs(dot(pca.components[0]!, u)) - 1) < 1e-9,
    `PC1 ${Array.from(pca.components[0]!)} is not ±u ${u}`,
  );
  assert.ok(
    Math.abs(Math.abs(dot(pca.components[1]!, v)) - 1) < 1e-9,
    `PC2 ${Array.from(pca.components[1]!)} is not ±v ${v}`,
  );
  assert.ok(Math.abs(pca.variances[0]! - 6) < 1e-9, `variance ${pca.variances[0]}`);
  assert.ok(Math.abs(pca.variances[1]! - 2 / 3) < 1e-9, `variance ${pca.variances[1]}`);
  assert.ok(Math.abs(pca.totalVariance - 20 / 3) < 1e-9);
  assert.deepEqual(
    Array.from(pca.mean).map((x) => Math.round(x * 1e9) / 1e9),
    centre,
  );
  // Signs are fixed (the largest entry positive), so the same input always gives the same picture.
  for (const axis of pca.components) {
    const largest = Array.from(axis).reduce((best, x) => (Math.abs(x) > Math.abs(best) ? x : best), 0);
    assert.ok(largest > 0);
  }
  // Projections are the points' coordinates along the axes (up to the fixed sign).
  const coordinates = project(pca, rows).map((xy) => xy.map((x) => Math.round(Math.abs(x) * 1e9) / 1e9));
  assert.deepEqual(coordinates, [
    [3, 0],
    [3, 0],
    [0, 1],
    [0, 1],
  ]);
});

test('PCA finds a planted direction among 320 noisy channels', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const d = 320;
  const direction = unit(Array.from({ length: d }, (_, k) => Math.sin(k * 0.37) + 0.1));
  const rows = Array.from({ length: 600 }, () => {
    const strength = random() * 4;
    return Float32Array.from({ length: d }, (_, k) => strength * direction[k]! + random() * 0.2);
  });
  const pca = principalComponents(rows, 2);
  assert.ok(
    Math.abs(dot(pca.components[0]!, direction)) > 0.995,
    `|PC1 · planted| = ${Math.abs(dot(pca.components[0]!, direction))}`,
  );
  assert.ok(Math.abs(dot(pca.components[0]!, pca.components[1]!)) < 1e-9, 'the components are orthogonal');
  assert.ok(pca.variances[0]! / pca.totalVariance > 0.5, `PC1 explains ${pca.variances[0]! / pca.totalVariance}`);
  assert.ok(pca.variances[0]! > pca.variances[1]!);
});

test('jacobiEigen: every eigenpair of a small symmetric matrix', () => {
  const { values, vectors } = jacobiEigen(Float64Array.from([2, 1, 0, 1, 2, 0, 0, 0, 5]), 3);
  assert.deepEqual(values.map((x) => Math.round(x * 1e12) / 1e12).sort(), [1, 3, 5]);
  const column = (i: number) => [0, 1, 2].map((r) => vectors[r * 3 + i]!);
  const three = column(values.findIndex((x) => Math.abs(x - 3) < 1e-9));
  assert.ok(Math.abs(Math.abs(dot(three, unit([1, 1, 0]))) - 1) < 1e-12);
});

test('PCA refuses fewer than two rows', () => {
  assert.throws(() => principalComponents([[1, 2, 3]]), /at least 2 rows/);
});
