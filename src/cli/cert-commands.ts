import { resolve } from 'node:path';
import { readCertificatePair } from '../certificates/cert-store.js';
import { issuerIdOf } from '../certificates/issuer-factory.js';
import { pairPaths } from '../certificates/pair-store.js';
import { renewalTime } from '../certificates/renewal-policy.js';
import type { DesiredState } from '../manifests/desired-state.js';
import type { ResourceStatus } from '../state/status-board.js';
import { type AgentClient, triggerPath } from './agent-client.js';
import { fetchStatus } from './status-command.js';
import { formatTable } from './table.js';

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
export function renderCertList(rows: readonly CertRow[], now = new Date()): string {
  if (rows.length === 0) return 'no Certificate declared\n';
  return formatTable(
    ['NAME', 'READY', 'DOMAINS', 'ISSUER', 'SERIAL', 'NOT AFTER', 'LEFT', 'NEXT RENEWAL', 'LAST ERROR'],
    rows.map((r) => [r.name, r.ready, r.domains.join(','), r.issuer, r.serial, r.notAfter, daysLeft(r.notAfter, now), r.nextRenewal, r.lastError]),
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

/** `certitrack-agent cert list`: from the running agent's /status. */
export async function certListCommand(client: AgentClient): Promise<string> {
  const doc = await fetchStatus(client);
  return renderCertList(certRowsFromStatus(doc.resources));
}

/**
 * `cert list --manifests DIR` with no agent running: reads each declared certificate's files.
 * Next renewal here ignores ARI advice and failure backoff, which only the agent knows.
 */
export async function certRowsFromDisk(desired: DesiredState): Promise<CertRow[]> {
  const rows: CertRow[] = [];
  for (const res of desired.list('Certificate')) {
    const { disk } = await readCertificatePair(pairPaths(resolve(res.source.dir, res.spec.certFile), resolve(res.source.dir, res.spec.keyFile)));
    const present = disk.state === 'present' ? disk : undefined;
    const problem = disk.state === 'missing' ? 'no certificate file' : disk.state === 'corrupt' ? disk.reason : disk.key !== 'ok' ? `key ${disk.key}` : null;
    rows.push({
      name: res.name,
      ready: problem ? 'False' : 'Unknown',
      domains: present?.info.domains ?? res.spec.domains,
      issuer: issuerIdOf(res.spec),
      serial: present?.info.serial ?? null,
      notAfter: present?.info.notAfter.toISOString() ?? null,
      nextRenewal: present
        ? renewalTime({ notBefore: present.info.notBefore, notAfter: present.info.notAfter, serial: present.info.serial, renewBeforeMs: res.spec.renewBefore }).at.toISOString()
        : null,
      lastError: problem,
    });
  }
  return rows;
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
