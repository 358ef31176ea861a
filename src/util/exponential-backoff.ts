/**
 * The wait before retry number `attempt` (1 for the first retry): base, 2·base, 4·base … capped at
 * max. The one formula behind every retry in the agent (reconcile errors, certificate orders, failed
 * backups, the Docker event stream), so they all back off alike.
 */
export function exponentialBackoffMs(attempt: number, baseMs: number, maxMs: number): number {
  if (attempt <= 0) return 0;
  // 2^30 already exceeds any cap in use; the bound keeps the product finite.
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
}
