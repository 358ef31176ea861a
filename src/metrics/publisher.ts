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
  /** PutMetricData calls made; the SDK may send each more than once (its retries). */
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

/**
 * Publishes data points to CloudWatch in as few PutMetricData requests as the limits allow. Retries
 * are the SDK client's, configured once in the AWS context (src/aws/context.ts): a batch that fails
 * here has already been retried there, so it is given up on. Nothing is dropped silently: every datum ends up counted
 * in `certitrack_cloudwatch_datapoints_total` as sent or failed, and every batch given up on in
 * `certitrack_cloudwatch_publish_failures_total`, with a warning logged.
 */
export class MetricPublisher {
  private readonly limits: BatchLimits;
  private readonly failures: Counter;
  private readonly datapoints: Counter<'result'>;

  constructor(
    private readonly api: MetricDataApi,
    registry: Registry,
    private readonly opts: MetricPublisherOptions = {},
  ) {
    this.limits = { maxPerRequest: opts.maxPerRequest ?? DEFAULT_LIMITS.maxPerRequest, maxRequestBytes: opts.maxRequestBytes ?? DEFAULT_LIMITS.maxRequestBytes };
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
      const outcome = await this.send(batch, signal);
      result.requests += 1;
      if (outcome.ok) {
        result.sent += n;
        this.datapoints.labels('sent').inc(n);
      } else {
        result.failed += n;
        this.datapoints.labels('failed').inc(n);
        this.failures.inc();
        this.opts.log?.warn({ namespace: batch.Namespace, count: n, err: outcome.error.message }, 'CloudWatch PutMetricData failed after the SDK retries; batch not published');
      }
    }
    return result;
  }

  private async send(batch: PutMetricDataInput, signal?: AbortSignal): Promise<{ ok: true } | { ok: false; error: Error }> {
    try {
      await this.api.putMetricData(batch, signal);
      return { ok: true };
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
    }
  }
}
