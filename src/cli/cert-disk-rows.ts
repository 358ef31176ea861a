import { resolve } from 'node:path';
import { readCertificatePair } from '../certificates/cert-store.js';
import { issuerIdOf } from '../certificates/issuer-factory.js';
import { pairPaths } from '../certificates/pair-store.js';
import { renewalTime } from '../certificates/renewal-policy.js';
import type { DesiredState } from '../manifests/desired-state.js';
import type { CertRow } from './cert-commands.js';

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

