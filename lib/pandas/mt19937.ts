/**
 * numpy's legacy `RandomState`, only as far as pandas' `groupby().sample()` uses it: MT19937
 * seeded from a 32-bit integer, and `permutation(n)` (a Fisher–Yates shuffle drawing with
 * numpy's masked rejection sampler `random_interval`). Reproducing it exactly is what makes
 * tessera's split identical to the notebook's.
 */
const N = 624;
const M = 397;

export class LegacyRandomState {
  private readonly key = new Uint32Array(N);
  private pos = N;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`seed must be an integer between 0 and 2**32 - 1, got ${seed}`);
    }
    let s = seed >>> 0;
    for (let k = 0; k < N; k++) {
      this.key[k] = s;
      s = (Math.imul(1812433253, (s ^ (s >>> 30)) >>> 0) + k + 1) >>> 0;
    }
  }

  nextUint32(): number {
    if (this.pos >= N) this.regenerate();
    let y = this.key[this.pos++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A uniform integer in [0, max], as numpy's `random_interval` (max < 2**32). */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let value: number;
    do {
      value = (this.nextUint32() & mask) >>> 0;
    } while (value > max);
    return value;
  }

  /** `RandomState.permutation(n)`: a shuffled `arange(n)`. */
  permutation(n: number): number[] {
    const values = Array.from({ length: n }, (_, k) => k);
    for (let k = n - 1; k >= 1; k--) {
      const j = this.interval(k);
      const tmp = values[k]!;
      values[k] = values[j]!;
      values[j] = tmp;
    }
    return values;
  }

  private regenerate(): void {
    const key = this.key;
    const upper = 0x80000000;
    const lower = 0x7fffffff;
    const mag = (y: number) => (y & 1 ? 0x9908b0df : 0);
    let k = 0;
    for (; k < N - M; k++) {
      const y = (key[k]! & upper) | (key[k + 1]! & lower);
      key[k] = key[k + M]! ^ (y >>> 1) ^ mag(y);
    }
    for (; k < N - 1; k++) {
      const y = (key[k]! & upper) | (key[k + 1]! & lower);
      key[k] = key[k + (M - N)]! ^ (y >>> 1) ^ mag(y);
    }
    const y = (key[N - 1]! & upper) | (key[0]! & lower);
    key[N - 1] = key[M - 1]! ^ (y >>> 1) ^ mag(y);
    this.pos = 0;
  }
}
