// What every fuzz family returns: how many cases it tried and what failed (each failure says how to
// reproduce it: the family, the seed and the input). `npm run test:fuzz` runs the families for a
// bounded time (test/fuzz.mjs); the unit suite runs a short version of each (test/unit/safety/).
export interface FuzzResult {
  family: string;
  seed: number;
  cases: number;
  failures: string[];
  /** Remarks worth printing (e.g. how often a reference implementation timed out). */
  notes?: string[];
}
