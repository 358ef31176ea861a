import type { MetricDatum, PutMetricDataInput, StandardUnit } from '@aws-sdk/client-cloudwatch';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { MetricDataApi } from '../adapters/cloudwatch.js';

/** One CloudWatch data point, as the probes produce it. */
export interface Datum {
  namespace: string;
  name: string;
  value: number;
  unit?: StandardUnit;
  dimensions?: Record<string, string>;
  timestamp?: Date;
  /** 1 for high resolution; CloudWatch's default (60) otherwise. */
  storageResolution?: 1 | 60;
}

export interface PublishResult {
  sent: number;
  failed: number;
  requests: number;
}

export interface BatchLimits {
  /** PutMetricData takes at most 1000 metric data a request. */
  maxPerRequest: number;
  /** …and at most 1 MB of payload; measured on the JSON the SDK sends, before its gzip. */
  maxRequestBytes: number;
}

export const DEFAULT_LIMITS: BatchLimits = { maxPerRequest: 1000, maxRequestBytes: 1_000_000 };

export interface MetricPublisherOptions extends Partial<BatchLimits> {
  /** Tries per batch, the first included. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  log?: Logger;
}

function toWire(d: Datum): MetricDatum {
  const datum: MetricDatum = { MetricName: d.name, Value: d.value, Timestamp: d.timestamp ?? new Date() };
  const dims = Object.entries(d.dimensions ?? {});
  if (dims.length) datum.Dimensions = dims.map(([Name, Value]) => ({ Name, Value }));
  if (d.unit) datum.Unit = d.unit;
  if (d.storageResolution) datum.StorageResolution = d.storageResolution;
  return datum;
}

/** Bytes this datum adds to the JSON body (timestamps go as epoch seconds in the JSON protocol). */
const wireBytes = (d: MetricDatum): number =>
  Buffer.byteLength(JSON.stringify({ ...d, Timestamp: (d.Timestamp?.getTime() ?? 0) / 1000 })) + 1;

/**
 * Splits data into PutMetricData requests: one namespace per request, at most `maxPerRequest` data
 * and `maxRequestBytes` of body each, order kept within a namespace. Pure.
 */
export function batchMetricData(data: readonly Datum[], limits: BatchLimits = DEFAULT_LIMITS): PutMetricDataInput[] {
  const byNamespace = new Map<string, MetricDatum[]>();
  for (const d of data) {
    let list = byNamespace.get(d.namespace);
    if (!list) byNamespace.set(d.namespace, (list = []));
    list.push(toWire(d));
  }
  const out: PutMetricDataInput[] = [];
  for (const [Namespace, list] of byNamespace) {
    const envelope = Buffer.byteLength(JSON.stringify({ Namespace, MetricData: [] }));
    let batch: MetricDatum[] = [];
    let bytes = envelope;
    for (const datum of list) {
      const size = wireBytes(datum);
      if (batch.length > 0 && (batch.length >= limits.maxPerRequest || bytes + size > limits.maxRequestBytes)) {
        out.push({ Namespace, MetricData: batch });
        batch = [];
        bytes = envelope;
      }
      batch.push(datum);
      bytes += size;
    }
    if (batch.length) out.push({ Namespace, MetricData: batch });
  }
  return out;
}

/** Throttling, server errors and network failures are worth another try; a rejected request is not. */
function isRetryable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (/Throttl|RequestLimitExceeded|TooManyRequests/.test(`${e.code ?? ''} ${e.name ?? ''}`)) return true;
  return status === undefined || status >= 500 || status === 429;
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Publishes data points to CloudWatch in as few PutMetricData requests as the limits allow, retrying
 * each request with exponential backoff. Nothing is dropped silently: every datum ends up counted
 * in `certitrack_cloudwatch_datapoints_total` as sent or failed, and every batch given up on in
 * `certitrack_cloudwatch_publish_failures_total`, with a warning logged.
 */
export class MetricPublisher {
  private readonly limits: BatchLimits;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly failures: Counter;
  private readonly datapoints: Counter<'result'>;

  constructor(
    private readonly api: MetricDataApi,
    registry: Registry,
    private readonly opts: MetricPublisherOptions = {},
  ) {
    this.limits = { maxPerRequest: opts.maxPerRequest ?? DEFAULT_LIMITS.maxPerRequest, maxRequestBytes: opts.maxRequestBytes ?? DEFAULT_LIMITS.maxRequestBytes };
    this.maxAttempts = opts.maxAttempts ?? 4;
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 30_000;
    this.sleep = opts.sleep ?? defaultSleep;
    const registers = [registry];
    this.failures = new Counter({ name: 'certitrack_cloudwatch_publish_failures_total', help: 'PutMetricData requests given up on after retries.', registers });
    this.datapoints = new Counter({ name: 'certitrack_cloudwatch_datapoints_total', help: 'Data points published to CloudWatch, by result.', labelNames: ['result'], registers });
    this.datapoints.labels('sent').inc(0);
    this.datapoints.labels('failed').inc(0);
  }

  async publish(data: readonly Datum[], signal?: AbortSignal): Promise<PublishResult> {
    // CloudWatch rejects a whole request for one NaN or infinite value: keep those out and count them.
    const valid = data.filter((d) => Number.isFinite(d.value));
    const invalid = data.length - valid.length;
    if (invalid > 0) {
      this.datapoints.labels('failed').inc(invalid);
      this.opts.log?.warn({ count: invalid, names: [...new Set(data.filter((d) => !Number.isFinite(d.value)).map((d) => d.name))] }, 'metric values that are not finite numbers were not published');
    }
    const result: PublishResult = { sent: 0, failed: invalid, requests: 0 };
    for (const batch of batchMetricData(valid, this.limits)) {
      const n = batch.MetricData?.length ?? 0;
      const outcome = await this.sendWithRetry(batch, signal);
      result.requests += outcome.attempts;
      if (outcome.ok) {
        result.sent += n;
        this.datapoints.labels('sent').inc(n);
      } else {
        result.failed += n;
        this.datapoints.labels('failed').inc(n);
        this.failures.inc();
        this.opts.log?.warn({ namespace: batch.Namespace, count: n, attempts: outcome.attempts, err: outcome.error.message }, 'CloudWatch PutMetricData failed; batch not published');
      }
    }
    return result;
  }

  private async sendWithRetry(batch: PutMetricDataInput, signal?: AbortSignal): Promise<{ ok: true; attempts: number } | { ok: false; attempts: number; error: Error }> {
    let attempt = 0;
    for (;;) {
      attempt++;
      try {
        await this.api.putMetricData(batch, signal);
        return { ok: true, attempts: attempt };
      } catch (err) {
        if (attempt >= this.maxAttempts || !isRetryable(err) || signal?.aborted) return { ok: false, attempts: attempt, error: err as Error };
        await this.sleep(Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1)), signal);
      }
    }
  }
}
