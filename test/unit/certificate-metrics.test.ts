import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CertificateMetrics } from '../../src/certificates/certificate-metrics.js';

describe('CertificateMetrics', () => {
  it('labels every series `certificate`, creates them all on declare, and 0 stands for "no certificate on disk"', async () => {
    const registry = new Registry();
    const m = new CertificateMetrics(registry);
    m.declare('site');
    const text = await registry.metrics();
    for (const line of [
      'certitrack_certificate_expiration_timestamp_seconds{certificate="site"} 0',
      'certitrack_certificate_renewal_timestamp_seconds{certificate="site"} 0',
      'certitrack_certificate_ready_status{certificate="site",condition="Unknown"} 1',
      'certitrack_certificate_ready_status{certificate="site",condition="True"} 0',
      'certitrack_certificate_issuances_total{certificate="site",result="failure"} 0',
    ]) {
      expect(text).toContain(line);
    }
    expect(text).not.toMatch(/\{name=/);

    m.setTimes('site', new Date('2027-01-01T00:00:00Z'), new Date('2026-11-01T00:00:00Z'));
    m.setReady('site', 'True');
    m.declare('site'); // every reconcile declares: the live values stay
    const after = await registry.metrics();
    expect(after).toContain('certitrack_certificate_expiration_timestamp_seconds{certificate="site"} 1798761600');
    expect(after).toContain('certitrack_certificate_ready_status{certificate="site",condition="True"} 1');

    m.forget('site');
    expect(await registry.metrics()).not.toContain('certificate="site"');
  });
});
