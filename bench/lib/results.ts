import { formatTable } from '../../src/cli/table.js';
import type { BenchOptions } from './options.js';
import { formatMs } from './stats.js';
import type { Cleanup } from './cleanup.js';
import type { ComposeCheck } from './compose.js';

export type Unit = 'ms' | 'count' | 'MiB' | 'per-min';

/** One line of the comparison table; samples go to the JSON file. */
export interface Row {
  benchmark: string;
  metric: string;
  unit: Unit;
  agent: number | string | undefined;
  /** A number, "never", "n/a", or undefined when the peer was skipped. */
  peer: number | string | undefined;
  peerName: string;
  note?: string;
  samples?: { agent?: number[]; peer?: number[] };
}

export interface BenchContext {
  opts: BenchOptions;
  runId: string;
  /** `io.certitrack.bench=<runId>`: every container of this run carries it. */
  runLabel: string;
  cleanup: Cleanup;
  compose: ComposeCheck;
  rows: Row[];
  /** Progress on stderr, so that stdout is only the table. */
  say: (message: string) => void;
}

function show(v: number | string | undefined, unit: Unit): string {
  if (v === undefined) return 'skipped';
  if (typeof v === 'string') return v;
  if (unit === 'ms') return formatMs(v);
  if (unit === 'MiB') return `${v.toFixed(0)} MiB`;
  if (unit === 'per-min') return `${v.toFixed(1)}/min`;
  return String(Math.round(v));
}

export function ratio(row: Row): string {
  if (typeof row.agent !== 'number' || typeof row.peer !== 'number' || row.peer === 0) return '';
  return `${(row.agent / row.peer).toFixed(2)}x`;
}

export function renderTable(rows: readonly Row[]): string {
  return formatTable(
    ['BENCHMARK', 'METRIC', 'AGENT', 'PEER', 'AGENT/PEER', 'PEER IS', 'NOTE'],
    rows.map((r) => [r.benchmark, r.metric, show(r.agent, r.unit), show(r.peer, r.unit), ratio(r), r.peerName, r.note ?? '']),
  );
}
