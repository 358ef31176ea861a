import type { ResourceStatus } from '../state/status-board.js';
import type { AgentClient } from './agent-client.js';
import type { CliKind } from './kind-ref.js';
import { formatTable, tableFor } from './table.js';
import { paint, statusColour, type TextView } from './terminal.js';

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

/** `status KIND` or `status KIND/NAME`: the document with only those resources; an unknown name is an error. */
export function filterStatus(doc: StatusDocument, filter: { kind: CliKind; name?: string } | undefined): StatusDocument {
  if (!filter) return doc;
  const resources = doc.resources.filter((r) => r.kind === filter.kind && (filter.name === undefined || r.name === filter.name));
  if (filter.name !== undefined && resources.length === 0) throw new Error(`${filter.kind}/${filter.name} is not known to the agent`);
  return { ...doc, resources };
}

const condition = (r: ResourceStatus, type: string) => r.conditions.find((c) => c.type === type);

/** Suspended by `certitrack-agent suspend`: the agent leaves the resource alone until `resume`. */
export const isSuspended = (r: ResourceStatus): boolean => condition(r, 'Suspended')?.status === 'True';

function reason(r: ResourceStatus): string {
  const c = condition(r, 'Ready');
  const ready = [c?.reason, c?.message].filter(Boolean).join(': ');
  return isSuspended(r) ? `Suspended${ready ? ` (${ready})` : ''}` : ready;
}

function detail(r: ResourceStatus): string {
  const d = r.details;
  if (r.kind === 'Service') return `${d.state ?? ''}${d.health ? ` (${String(d.health)})` : ''} restarts=${String(d.restarts ?? 0)}`;
  return Object.entries(d)
    .filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object')
    .slice(0, 3)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

export function renderStatus(doc: StatusDocument, view: TextView = { width: undefined, color: false }): string {
  let out = `revision ${doc.revision}  applied ${doc.appliedRevision ?? '-'}  source ${doc.origin}\n`;
  if (doc.manifests && !doc.manifests.ok) {
    out += `${paint(view, 'red', 'manifests REJECTED')} at ${doc.manifests.at} (last good state still applied):\n${doc.manifests.errors.map((e) => `  ${e}`).join('\n')}\n`;
  }
  const colour = (header: string, text: string) =>
    header === 'READY' ? statusColour(text) : header === 'STATUS' && text.startsWith('Suspended') ? 'yellow' : header === 'LAST ERROR' ? 'red' : undefined;
  out +=
    '\n' +
    formatTable(
      ['KIND', 'NAME', 'READY', 'STATUS', 'DETAIL', 'LAST ERROR'],
      doc.resources.map((r) => [r.kind, r.name, condition(r, 'Ready')?.status ?? 'Unknown', reason(r), detail(r), r.lastError?.message ?? '']),
      tableFor(view, colour),
    );
  return out;
}
