const UNITS: readonly [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
];

/**
 * Milliseconds written in the largest unit that divides them exactly ("12h", "90s"), as the
 * manifests' durations are read back. `go` leaves out days, which Go's time.ParseDuration
 * (cert-manager's duration fields) does not know.
 */
export function exactDuration(ms: number, go = false): string {
  for (const [unit, size] of UNITS) {
    if (go && unit === 'd') continue;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.round(ms)}ms`;
}

/** Whole seconds, rounded up, at least `min` (probe periods and timeouts cannot be 0). */
export const seconds = (ms: number, min = 0): number => Math.max(min, Math.ceil(ms / 1000));

const BINARY: readonly [string, number][] = [
  ['Ti', 1024 ** 4],
  ['Gi', 1024 ** 3],
  ['Mi', 1024 ** 2],
  ['Ki', 1024],
];

/** Bytes as a Kubernetes quantity ("10Gi", "512Mi"), exact. */
export function quantity(bytes: number): string {
  for (const [unit, size] of BINARY) if (bytes % size === 0) return `${bytes / size}${unit}`;
  return String(bytes);
}

/** CPUs (Docker's --cpus) as a Kubernetes quantity in millicores. */
export const cpuQuantity = (cpus: number): string => `${Math.max(1, Math.round(cpus * 1000))}m`;
