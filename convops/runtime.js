// The functions that convops.compiler.javascript's expressions call, over BigInt.
// Each mirrors the Python that convops' compiled counts call, so a formula printed as JavaScript
// gives the exact integer Python gives. BigInt's / and % truncate toward zero; Python's // and %
// (and sympy's floor and Mod) round toward minus infinity, hence floorDiv and mod.

// Python's a // b (convops.compiler.Quotient; sympy's floor(a / b)), for either sign of b.
export function floorDiv(a, b) {
  const q = a / b;
  return a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q;
}

// Python's a % b (sympy's Mod): zero or the sign of b.
export function mod(a, b) {
  const r = a % b;
  return r !== 0n && (r < 0n) !== (b < 0n) ? r + b : r;
}

// Python's max (sympy's Max).
export function max(...xs) {
  return xs.reduce((a, b) => (b > a ? b : a));
}

// Python's min (sympy's Min).
export function min(...xs) {
  return xs.reduce((a, b) => (b < a ? b : a));
}

// math.gcd (convops.additions.Gcd): never negative.
export function gcd(a, b) {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

// convops.additions.floor_sum: sum of floorDiv(a*t + b, m) for 0 <= t < n (n, a, b >= 0, m >= 1).
function floorSum(n, m, a, b) {
  let total = 0n;
  for (;;) {
    if (a >= m) {
      total += ((n * (n - 1n)) / 2n) * (a / m);
      a %= m;
    }
    if (b >= m) {
      total += n * (b / m);
      b %= m;
    }
    const yMax = a * n + b;
    if (yMax < m) return total;
    [n, b] = [yMax / m, yMax % m];
    [m, a] = [a, m];
  }
}

// convops.additions.lattice_count (LatticeCount): pairs 0 <= i < L, 0 <= j < k with i*s + j*d < T.
export function LatticeCount(L, k, s, d, T) {
  if (L <= 0n || k <= 0n || T <= 0n) return 0n;
  if (T <= s && T <= d) return 1n;
  if (T > (L - 1n) * s + (k - 1n) * d) return L * k;
  const taps = min(k, -floorDiv(-T, d));
  const fullTaps = min(taps, max(0n, -floorDiv(-(T - (L - 1n) * s), d)));
  return fullTaps * L + floorSum(taps - fullTaps, s, d, T + s - 1n - (taps - 1n) * d);
}

// convops.additions.saturation (Saturation): an input size from which LatticeCount stops growing.
export function Saturation(k, s, d, T) {
  if (k <= 0n || T <= 0n) return 0n;
  return -floorDiv(-T, s);
}
