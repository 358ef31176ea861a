import { Counter, Gauge, type Registry } from 'prom-client';

const RESTART_REASONS = ['exited', 'unhealthy', 'removed'] as const;

export class ServiceMetrics {
  private readonly known = new Set<string>();
  readonly up: Gauge<'service'>;
  readonly ready: Gauge<'service'>;
  readonly restarts: Counter<'service' | 'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.up = new Gauge({ name: 'certitrack_service_up', help: '1 if the service container is running.', labelNames: ['service'], registers });
    this.ready = new Gauge({ name: 'certitrack_service_ready', help: '1 if the service is running, healthy and matches its spec.', labelNames: ['service'], registers });
    this.restarts = new Counter({
      name: 'certitrack_service_restarts_total',
      help: 'Restarts and re-creations the agent performed to heal a service.',
      labelNames: ['service', 'reason'],
      registers,
    });
  }

  /** Creates the service's series at 0 the first time it is seen; later calls keep the live values. */
  declare(service: string): void {
    if (this.known.has(service)) return;
    this.known.add(service);
    this.up.labels(service).set(0);
    this.ready.labels(service).set(0);
    for (const reason of RESTART_REASONS) this.restarts.labels(service, reason).inc(0);
  }

  forget(service: string): void {
    this.known.delete(service);
    this.up.remove(service);
    this.ready.remove(service);
    for (const reason of RESTART_REASONS) this.restarts.remove(service, reason);
  }
}
