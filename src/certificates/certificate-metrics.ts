import { Counter, Gauge, type Registry } from 'prom-client';

const CONDITIONS = ['True', 'False', 'Unknown'] as const;

/** cert-manager's certificate metrics, under the agent's prefix; one series set per Certificate name. */
export class CertificateMetrics {
  private readonly expiration: Gauge<'name'>;
  private readonly renewal: Gauge<'name'>;
  private readonly ready: Gauge<'name' | 'condition'>;
  private readonly orders: Counter<'name' | 'result'>;
  private readonly known = new Set<string>();

  constructor(registry: Registry) {
    this.expiration = new Gauge({
      name: 'certitrack_certificate_expiration_timestamp_seconds',
      help: 'The date after which the certificate on disk expires, as a Unix timestamp.',
      labelNames: ['name'],
      registers: [registry],
    });
    this.renewal = new Gauge({
      name: 'certitrack_certificate_renewal_timestamp_seconds',
      help: 'When the agent will next renew the certificate, as a Unix timestamp.',
      labelNames: ['name'],
      registers: [registry],
    });
    this.ready = new Gauge({
      name: 'certitrack_certificate_ready_status',
      help: 'The Ready condition of the certificate: 1 for the current condition value, 0 for the others.',
      labelNames: ['name', 'condition'],
      registers: [registry],
    });
    this.orders = new Counter({
      name: 'certitrack_certificate_issuances_total',
      help: 'Certificate issuances attempted, by result (ACME orders and self-signed).',
      labelNames: ['name', 'result'],
      registers: [registry],
    });
  }

  private init(name: string): void {
    if (this.known.has(name)) return;
    this.known.add(name);
    for (const result of ['success', 'failure']) this.orders.inc({ name, result }, 0);
    for (const condition of CONDITIONS) this.ready.set({ name, condition }, condition === 'Unknown' ? 1 : 0);
  }

  setTimes(name: string, notAfter: Date | undefined, renewAt: Date | undefined): void {
    this.init(name);
    if (notAfter) this.expiration.set({ name }, Math.floor(notAfter.getTime() / 1000));
    else this.expiration.remove({ name });
    if (renewAt) this.renewal.set({ name }, Math.floor(renewAt.getTime() / 1000));
    else this.renewal.remove({ name });
  }

  setReady(name: string, status: (typeof CONDITIONS)[number]): void {
    this.init(name);
    for (const condition of CONDITIONS) this.ready.set({ name, condition }, condition === status ? 1 : 0);
  }

  issuance(name: string, result: 'success' | 'failure'): void {
    this.init(name);
    this.orders.inc({ name, result });
  }

  forget(name: string): void {
    this.known.delete(name);
    this.expiration.remove({ name });
    this.renewal.remove({ name });
    for (const condition of CONDITIONS) this.ready.remove({ name, condition });
    for (const result of ['success', 'failure']) this.orders.remove({ name, result });
  }
}
