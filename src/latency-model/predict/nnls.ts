/**
 * Non-negative least squares on normal equations (Lawson and Hanson's active-set method), small and
 * dense: the latency estimator's fits have a dozen columns at most. Working from the Gram matrix
 * G = A'A and h = A'b (never from A itself) makes leave-one-out cheap: removing row a with target
 * y is G - aa', h - ay.
 */

/** The normal equations of a least-squares problem: G = A'A (p x p, row-major) and h = A'b. */
export interface NormalEquations {
  p: number;
  gram: Float64Array;
  rhs: Float64Array;
}

export function emptyNormalEquations(p: number): NormalEquations {
  return { p, gram: new Float64Array(p * p), rhs: new Float64Array(p) };
}

/** Adds (sign 1) or removes (sign -1) the row `a` with target `b`, weighted by `weight`. */
export function accumulate(eq: NormalEquations, a: readonly number[], b: number, weight = 1, sign: 1 | -1 = 1): void {
  const { p, gram, rhs } = eq;
  const s = sign * weight * weight;
  for (let i = 0; i < p; i++) {
    const ai = a[i]!;
    if (ai === 0) continue;
    rhs[i]! += s * ai * b;
    for (let j = 0; j < p; j++) gram[i * p + j]! += s * ai * a[j]!;
  }
}

export function copyNormalEquations(eq: NormalEquations): NormalEquations {
  return { p: eq.p, gram: eq.gram.slice(), rhs: eq.rhs.slice() };
}

/**
 * Solves the symmetric positive definite system G[s, s] x = h[s] on the columns `s` (Cholesky);
 * null when it is not positive definite.
 */
function solveSubset(eq: NormalEquations, s: readonly number[], ridge: number): number[] | null {
  const n = s.length;
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = eq.gram[s[i]! * eq.p + s[j]!]! + (i === j ? ridge : 0);
      for (let k = 0; k < j; k++) sum -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (!(sum > 0)) return null;
        l[i * n + i] = Math.sqrt(sum);
      } else l[i * n + j] = sum / l[j * n + j]!;
    }
  }
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    let sum = eq.rhs[s[i]!]!;
    for (let k = 0; k < i; k++) sum -= l[i * n + k]! * y[k]!;
    y[i] = sum / l[i * n + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let sum = y[i]!;
    for (let k = i + 1; k < n; k++) sum -= l[k * n + i]! * y[k]!;
    y[i] = sum / l[i * n + i]!;
  }
  return y;
}

/** The gradient direction h - Gx: positive where raising a coefficient lowers the error. */
function descent(eq: NormalEquations, x: readonly number[], ridge: number): number[] {
  const { p, gram, rhs } = eq;
  return Array.from({ length: p }, (_, i) => {
    let g = rhs[i]! - ridge * x[i]!;
    for (let j = 0; j < p; j++) g -= gram[i * p + j]! * x[j]!;
    return g;
  });
}

/** The unconstrained solution on the passive set, stepped back until no coefficient is negative. */
function innerLoop(eq: NormalEquations, x: number[], passive: Set<number>, ridge: number): void {
  for (let guard = 0; guard < 4 * eq.p + 4; guard++) {
    const cols = [...passive].sort((a, b) => a - b);
    const z = solveSubset(eq, cols, ridge);
    if (!z) {
      // A column the others span: drop the last one added.
      passive.delete(cols.at(-1)!);
      continue;
    }
    if (z.every((v) => v > 0)) {
      cols.forEach((c, i) => {
        x[c] = z[i]!;
      });
      return;
    }
    let alpha = 1;
    cols.forEach((c, i) => {
      if (z[i]! <= 0) alpha = Math.min(alpha, x[c]! / (x[c]! - z[i]!));
    });
    cols.forEach((c, i) => {
      x[c] = x[c]! + alpha * (z[i]! - x[c]!);
      if (x[c]! <= 1e-15) {
        x[c] = 0;
        passive.delete(c);
      }
    });
  }
}

/**
 * min |Ax - b|^2 + ridge |x|^2 subject to x >= 0, from its normal equations. Columns should be
 * scaled to comparable sizes (the caller normalises them); `ridge` keeps collinear columns apart.
 */
export function nnls(eq: NormalEquations, ridge = 0): number[] {
  const x = new Array<number>(eq.p).fill(0);
  const passive = new Set<number>();
  const tolerance = 1e-12 * Math.max(1, ...eq.rhs.map(Math.abs));
  for (let iteration = 0; iteration < 3 * eq.p + 3; iteration++) {
    const w = descent(eq, x, ridge);
    let best = -1;
    for (let j = 0; j < eq.p; j++) if (!passive.has(j) && w[j]! > tolerance && (best < 0 || w[j]! > w[best]!)) best = j;
    if (best < 0) break;
    passive.add(best);
    innerLoop(eq, x, passive, ridge);
    if (!passive.has(best)) break;
  }
  return x;
}
