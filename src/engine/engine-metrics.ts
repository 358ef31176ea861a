import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { UnfinishedWork, WorkQueueMetrics } from './work-queue.js';

export const RECONCILE_RESULTS = ['success', 'error', 'requeue_after', 'terminal'] as const;

/** The controller-runtime metric set, under the certitrack_ prefix. */
export class EngineMetrics {
  readonly reconcileTotal: Counter<'kind' | 'result'>;
  readonly reconcileTime: Histogram<'kind'>;
  readonly reconcileTimeouts: Counter<'kind'>;
  readonly reconcileUnexpectedErrors: Counter<'kind'>;
  /** The work queue's metrics hook: client-go's workqueue set under certitrack_workqueue_. */
  readonly workQueue: WorkQueueMetrics;
  readonly manifestLoadSuccess: Gauge;
  readonly manifestLoadTimestamp: Gauge;
  readonly manifestLoadErrors: Counter;
  readonly appliedRevision: Gauge<'revision'>;
  readonly desiredResources: Gauge<'kind'>;

  constructor(registry: Registry, kinds: readonly string[]) {
    const registers = [registry];
    this.reconcileTotal = new Counter({ name: 'certitrack_reconcile_total', help: 'Reconciles by kind and result.', labelNames: ['kind', 'result'], registers });
    this.reconcileTime = new Histogram({
      name: 'certitrack_reconcile_time_seconds',
      help: 'Time spent in one reconcile.',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.reconcileTimeouts = new Counter({
      name: 'certitrack_reconcile_timeouts_total',
      help: 'Reconciles abandoned because they ran past their deadline (a hung Docker or AWS call).',
      labelNames: ['kind'],
      registers,
    });
    this.reconcileUnexpectedErrors = new Counter({
      name: 'certitrack_reconcile_unexpected_errors_total',
      help: 'Reconciles that failed with a programming error (TypeError and the like): a bug to report.',
      labelNames: ['kind'],
      registers,
    });
    this.workQueue = workQueueMetrics(registers);
    this.manifestLoadSuccess = new Gauge({ name: 'certitrack_manifest_load_success', help: '1 if the last manifest load succeeded, 0 if it was rejected.', registers });
    this.manifestLoadTimestamp = new Gauge({ name: 'certitrack_manifest_last_load_timestamp_seconds', help: 'When manifests were last loaded (successfully or not).', registers });
    this.manifestLoadErrors = new Counter({ name: 'certitrack_manifest_load_errors_total', help: 'Manifest loads rejected as a whole.', registers });
    this.appliedRevision = new Gauge({ name: 'certitrack_applied_revision_info', help: 'The manifest revision fully applied (value 1).', labelNames: ['revision'], registers });
    this.desiredResources = new Gauge({ name: 'certitrack_desired_resources', help: 'Resources declared, by kind.', labelNames: ['kind'], registers });
    for (const kind of kinds) {
      for (const result of RECONCILE_RESULTS) this.reconcileTotal.labels(kind, result).inc(0);
      this.reconcileTime.zero({ kind });
      this.reconcileTimeouts.labels(kind).inc(0);
      this.reconcileUnexpectedErrors.labels(kind).inc(0);
      this.desiredResources.labels(kind).set(0);
    }
  }
}

/**
 * Queue waits run from nanoseconds to minutes (an image build holds a worker): client-go's
 * exponential buckets from 10 ns, extended to 1000 s as controller-runtime does.
 */
const QUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];

function workQueueMetrics(registers: Registry[]): WorkQueueMetrics {
  const depth = new Gauge({ name: 'certitrack_workqueue_depth', help: 'Keys waiting in the work queue.', registers });
  const adds = new Counter({ name: 'certitrack_workqueue_adds_total', help: 'Keys added to the work queue (a key already waiting is not counted again).', registers });
  const retries = new Counter({ name: 'certitrack_workqueue_retries_total', help: 'Keys put back on the work queue after a failed reconcile.', registers });
  const queueDuration = new Histogram({
    name: 'certitrack_workqueue_queue_duration_seconds',
    help: 'How long a key waits in the work queue before a worker takes it.',
    buckets: QUEUE_BUCKETS,
    registers,
  });
  const workDuration = new Histogram({
    name: 'certitrack_workqueue_work_duration_seconds',
    help: 'How long a worker takes to handle a key from the work queue.',
    buckets: QUEUE_BUCKETS,
    registers,
  });
  let unfinished: () => UnfinishedWork = () => ({ totalSeconds: 0, longestSeconds: 0 });
  new Gauge({
    name: 'certitrack_workqueue_unfinished_work_seconds',
    help: 'Seconds of work in progress not yet observed by work_duration; a value that keeps growing means stuck workers.',
    registers,
    collect() {
      this.set(unfinished().totalSeconds);
    },
  });
  new Gauge({
    name: 'certitrack_workqueue_longest_running_processor_seconds',
    help: 'How long the longest-running worker has been handling its key.',
    registers,
    collect() {
      this.set(unfinished().longestSeconds);
    },
  });
  return {
    added: () => adds.inc(),
    depth: (keys) => depth.set(keys),
    waited: (seconds) => queueDuration.observe(seconds),
    worked: (seconds) => workDuration.observe(seconds),
    retried: () => retries.inc(),
    readUnfinishedWork: (read) => {
      unfinished = read;
    },
  };
}
