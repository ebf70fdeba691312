/** Types of the multiple-choice knapsack solver (mckp.ts). */

/** One item's choices: integer costs and finite values (e.g. bytes and sensitivity) of the same length. */
export interface MckpItem {
  costs: number[];
  values: number[];
}

export interface MckpSolution {
  /** Index of the chosen choice of each item. */
  choice: number[];
  /** Σ cost of the chosen choices (exact, in the caller's integer unit). */
  cost: number;
  /** Σ value of the chosen choices. */
  value: number;
  /** False when even the cheapest choice of every item exceeds the budget (choice = cheapest). */
  feasible: boolean;
  /** True when the search proved that no assignment within the budget has a smaller Σ value (false only when a limit of MckpOptions cut it short). */
  optimal: boolean;
  /**
   * No assignment within the budget has a smaller Σ value than this: `value` when optimal, else
   * the least bound of the search states that the state limit dropped (at least the LP bound).
   */
  lowerBound: number;
}

export interface MckpOptions {
  /**
   * Most search states kept after each item (each state: a cost, a value and a back pointer).
   * When more survive, those with the weakest bounds are dropped. Default 50,000.
   */
  maxStates?: number;
  /**
   * Most state visits (states × choices tried) of one solve, which bounds its time (about 0.1 s
   * per million on one core). When reached, the search stops with the best assignment found.
   * Default 1,000,000 (1,000 Llama-shaped layers need at most ~10⁵).
   */
  maxWork?: number;
}
