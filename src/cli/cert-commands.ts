import type { ResourceStatus } from '../state/status-board.js';
import { type AgentClient, triggerPath } from './agent-client.js';
import { formatTable, tableFor } from './table.js';
import { statusColour, type TextView } from './terminal.js';

export interface CertRow {
  name: string;
  ready: string;
  domains: string[];
  issuer: string;
  serial: string | null;
  notAfter: string | null;
  nextRenewal: string | null;
  lastError: string | null;
}

const DAY_MS = 86_400_000;

function daysLeft(notAfter: string | null, now: Date): string {
  if (!notAfter) return '';
  const days = Math.floor((Date.parse(notAfter) - now.getTime()) / DAY_MS);
  return days < 0 ? 'EXPIRED' : `${days}d`;
}

/** `cert list` as a table: one line per certificate, what /status says about it. */
export function renderCertList(rows: readonly CertRow[], now = new Date(), view: TextView = { width: undefined, color: false }): string {
  if (rows.length === 0) return 'no Certificate declared\n';
  return formatTable(
    ['NAME', 'READY', 'DOMAINS', 'ISSUER', 'SERIAL', 'NOT AFTER', 'LEFT', 'NEXT RENEWAL', 'LAST ERROR'],
    rows.map((r) => [r.name, r.ready, r.domains.join(','), r.issuer, r.serial, r.notAfter, daysLeft(r.notAfter, now), r.nextRenewal, r.lastError]),
    tableFor(view, (header, text) => (header === 'READY' || header === 'LEFT' ? statusColour(text) : header === 'LAST ERROR' ? 'red' : undefined)),
  );
}

export function certRowsFromStatus(resources: readonly ResourceStatus[]): CertRow[] {
  const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  return resources
    .filter((r) => r.kind === 'Certificate')
    .map((r) => ({
      name: r.name,
      ready: r.conditions.find((c) => c.type === 'Ready')?.status ?? 'Unknown',
      domains: Array.isArray(r.details.domains) ? (r.details.domains as string[]) : [],
      issuer: str(r.details.issuer) ?? '',
      serial: str(r.details.serial),
      notAfter: str(r.details.notAfter),
      nextRenewal: str(r.details.nextRenewal),
      lastError: str(r.details.lastError) ?? r.lastError?.message ?? null,
    }));
}

/**
 * `certitrack-agent cert renew NAME`: the running agent renews now (POST /v1/trigger/Certificate/NAME),
 * so the ACME challenge is answered by the agent's listener and the order counts against the same
 * hourly bound. Throws with the agent's reason when no certificate was issued.
 */
export async function certRenewCommand(client: AgentClient, name: string): Promise<string> {
  const out = await client.postJson(triggerPath('Certificate', name));
  return `Certificate/${name} renewed: serial ${String(out.serial)}, valid until ${String(out.notAfter)} (${String(out.issuer)})\n`;
}
