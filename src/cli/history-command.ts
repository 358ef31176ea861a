import type { RolloutHistoryEntry } from '../reconcilers/service/rollout-record.js';
import type { StatusDocument } from './status-command.js';
import { formatTable, tableFor } from './table.js';
import { statusColour, type TextView } from './terminal.js';

export interface HistoryRow extends RolloutHistoryEntry {
  service: string;
}

/** Every Service's last rollouts from a status document, newest first (one service when named). */
export function rolloutHistory(doc: StatusDocument, service?: string): HistoryRow[] {
  const rows = doc.resources
    .filter((r) => r.kind === 'Service' && (service === undefined || r.name === service))
    .flatMap((r) => ((r.details.rollouts as RolloutHistoryEntry[] | undefined) ?? []).map((h) => ({ service: r.name, ...h })));
  if (service !== undefined && !doc.resources.some((r) => r.kind === 'Service' && r.name === service)) throw new Error(`Service/${service} is not known to the agent`);
  return rows.sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1));
}

const short = (hash: string | undefined): string => (hash ? hash.slice(0, 8) : '-');

export function renderHistory(rows: readonly HistoryRow[], view: TextView = { width: undefined, color: false }): string {
  if (rows.length === 0) return 'No rollouts recorded yet.\n';
  return formatTable(
    ['SERVICE', 'STARTED', 'TOOK', 'RESULT', 'STRATEGY', 'FROM', 'TO', 'COMMIT', 'REASON'],
    rows.map((r) => [
      r.service,
      r.startedAt.replace(/\.\d+Z$/, 'Z'),
      `${Math.max(0, Math.round((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 100) / 10)}s`,
      r.result,
      r.strategy,
      short(r.fromHash),
      short(r.toHash),
      r.commit ? r.commit.slice(0, 12) : '-',
      r.reason,
    ]),
    tableFor(view, (header, text) => (header === 'RESULT' ? statusColour(text) : undefined)),
  );
}
