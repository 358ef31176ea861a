import { Counter, Gauge, type Registry } from 'prom-client';

export class ServiceMetrics {
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

  declare(service: string): void {
    this.up.labels(service).set(this.up.labels(service) ? 0 : 0);
    for (const reason of ['exited', 'unhealthy', 'removed']) this.restarts.labels(service, reason).inc(0);
  }

  forget(service: string): void {
    this.up.remove(service);
    this.ready.remove(service);
    for (const reason of ['exited', 'unhealthy', 'removed']) this.restarts.remove(service, reason);
  }
}
