import type { ResourceStatus } from '../state/status-board.js';
import type { AgentClient } from './agent-client.js';
import { formatTable } from './table.js';

export interface StatusDocument {
  agent?: { instance: string; version: string };
  revision: string;
  appliedRevision: string | null;
  origin: string;
  manifests: { ok: boolean; errors: string[]; at: string } | null;
  resources: ResourceStatus[];
}

/** Asks a running agent for /status. */
export function fetchStatus(client: AgentClient): Promise<StatusDocument> {
  return client.getJson<StatusDocument>('/status');
}

export function renderStatus(doc: StatusDocument): string {
  const ready = (r: ResourceStatus): string => r.conditions.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
  const reason = (r: ResourceStatus): string => {
    const c = r.conditions.find((x) => x.type === 'Ready');
    return [c?.reason, c?.message].filter(Boolean).join(': ');
  };
  const detail = (r: ResourceStatus): string => {
    const d = r.details;
    if (r.kind === 'Service') return `${d.state ?? ''}${d.health ? ` (${String(d.health)})` : ''} restarts=${String(d.restarts ?? 0)}`;
    return Object.entries(d)
      .filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object')
      .slice(0, 3)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
  };
  let out = `revision ${doc.revision}  applied ${doc.appliedRevision ?? '-'}  source ${doc.origin}\n`;
  if (doc.manifests && !doc.manifests.ok) {
    out += `manifests REJECTED at ${doc.manifests.at} (last good state still applied):\n${doc.manifests.errors.map((e) => `  ${e}`).join('\n')}\n`;
  }
  out += '\n' + formatTable(
    ['KIND', 'NAME', 'READY', 'STATUS', 'DETAIL', 'LAST ERROR'],
    doc.resources.map((r) => [r.kind, r.name, ready(r), reason(r), detail(r), r.lastError?.message ?? '']),
  );
  return out;
}
