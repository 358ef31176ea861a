import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ROLLOUT_RESULTS, type RolloutResult } from './rollout-record.js';

const RESTART_REASONS = ['exited', 'unhealthy', 'removed'] as const;

export class ServiceMetrics {
  private readonly known = new Set<string>();
  readonly up: Gauge<'service'>;
  readonly ready: Gauge<'service'>;
  readonly restarts: Counter<'service' | 'reason'>;
  readonly rollouts: Counter<'service' | 'result'>;
  readonly rolloutDuration: Histogram<'service' | 'result'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.up = new Gauge({ name: 'certitrack_service_up', help: '1 if the service container is running.', labelNames: ['service'], registers });
    this.ready = new Gauge({ name: 'certitrack_service_ready', help: '1 if the service is serving: its container runs and is healthy (during a rollout, the old version may be the one serving).', labelNames: ['service'], registers });
    this.restarts = new Counter({
      name: 'certitrack_service_restarts_total',
      help: 'Restarts and re-creations the agent performed to heal a service.',
      labelNames: ['service', 'reason'],
      registers,
    });
    this.rollouts = new Counter({
      name: 'certitrack_rollouts_total',
      help: 'Rollouts of a new spec that ended, by result: succeeded, rolled_back (StartFirst: the old version kept serving), failed (StopFirst: nothing old to keep) or superseded (a newer spec started before it ended).',
      labelNames: ['service', 'result'],
      registers,
    });
    this.rolloutDuration = new Histogram({
      name: 'certitrack_rollout_duration_seconds',
      help: 'From the start of a rollout to its end (the new version serving, or the rollback).',
      labelNames: ['service', 'result'],
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600],
      registers,
    });
  }

  rolloutEnded(service: string, result: RolloutResult, seconds: number): void {
    this.rollouts.labels(service, result).inc();
    this.rolloutDuration.labels(service, result).observe(seconds);
  }

  /** Creates the service's series at 0 the first time it is seen; later calls keep the live values. */
  declare(service: string): void {
    if (this.known.has(service)) return;
    this.known.add(service);
    this.up.labels(service).set(0);
    this.ready.labels(service).set(0);
    for (const reason of RESTART_REASONS) this.restarts.labels(service, reason).inc(0);
    for (const result of ROLLOUT_RESULTS) {
      this.rollouts.labels(service, result).inc(0);
      this.rolloutDuration.zero({ service, result });
    }
  }

  forget(service: string): void {
    this.known.delete(service);
    this.up.remove(service);
    this.ready.remove(service);
    for (const reason of RESTART_REASONS) this.restarts.remove(service, reason);
    for (const result of ROLLOUT_RESULTS) {
      this.rollouts.remove(service, result);
      this.rolloutDuration.remove(service, result);
    }
  }
}
