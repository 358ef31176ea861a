import { Counter, Gauge, type Registry } from 'prom-client';

const CONDITIONS = ['True', 'False', 'Unknown'] as const;
const ISSUANCE_RESULTS = ['success', 'failure'] as const;

/**
 * cert-manager's certificate metrics, under the agent's prefix; one series set per Certificate,
 * labelled `certificate`. The timestamps are 0 while no certificate is on disk, so "expires within
 * 14 days" also catches one that was never issued.
 */
export class CertificateMetrics {
  private readonly expiration: Gauge<'certificate'>;
  private readonly renewal: Gauge<'certificate'>;
  private readonly ready: Gauge<'certificate' | 'condition'>;
  private readonly orders: Counter<'certificate' | 'result'>;
  private readonly known = new Set<string>();

  constructor(registry: Registry) {
    this.expiration = new Gauge({
      name: 'certitrack_certificate_expiration_timestamp_seconds',
      help: 'The date after which the certificate on disk expires, as a Unix timestamp; 0 while there is none.',
      labelNames: ['certificate'],
      registers: [registry],
    });
    this.renewal = new Gauge({
      name: 'certitrack_certificate_renewal_timestamp_seconds',
      help: 'When the agent will next renew the certificate, as a Unix timestamp; 0 while there is none (issue now).',
      labelNames: ['certificate'],
      registers: [registry],
    });
    this.ready = new Gauge({
      name: 'certitrack_certificate_ready_status',
      help: 'The Ready condition of the certificate: 1 for the current condition value, 0 for the others.',
      labelNames: ['certificate', 'condition'],
      registers: [registry],
    });
    this.orders = new Counter({
      name: 'certitrack_certificate_issuances_total',
      help: 'Certificate issuances attempted, by result (ACME orders and self-signed).',
      labelNames: ['certificate', 'result'],
      registers: [registry],
    });
  }

  /** Creates the certificate's series (Ready Unknown, no certificate yet, no issuance); idempotent. */
  declare(certificate: string): void {
    if (this.known.has(certificate)) return;
    this.known.add(certificate);
    for (const result of ISSUANCE_RESULTS) this.orders.inc({ certificate, result }, 0);
    for (const condition of CONDITIONS) this.ready.set({ certificate, condition }, condition === 'Unknown' ? 1 : 0);
    this.expiration.set({ certificate }, 0);
    this.renewal.set({ certificate }, 0);
  }

  setTimes(certificate: string, notAfter: Date | undefined, renewAt: Date | undefined): void {
    this.declare(certificate);
    this.expiration.set({ certificate }, notAfter ? Math.floor(notAfter.getTime() / 1000) : 0);
    this.renewal.set({ certificate }, renewAt ? Math.floor(renewAt.getTime() / 1000) : 0);
  }

  setReady(certificate: string, status: (typeof CONDITIONS)[number]): void {
    this.declare(certificate);
    for (const condition of CONDITIONS) this.ready.set({ certificate, condition }, condition === status ? 1 : 0);
  }

  issuance(certificate: string, result: (typeof ISSUANCE_RESULTS)[number]): void {
    this.declare(certificate);
    this.orders.inc({ certificate, result });
  }

  forget(certificate: string): void {
    this.known.delete(certificate);
    this.expiration.remove({ certificate });
    this.renewal.remove({ certificate });
    for (const condition of CONDITIONS) this.ready.remove({ certificate, condition });
    for (const result of ISSUANCE_RESULTS) this.orders.remove({ certificate, result });
  }
}
