import type { PutMetricDataInput } from '@aws-sdk/client-cloudwatch';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { MetricDataApi } from '../../src/adapters/cloudwatch.js';
import { PublishLoop } from '../../src/metrics/publish-loop.js';
import { batchMetricData, type Datum, MetricPublisher } from '../../src/metrics/publisher.js';

const data = (n: number, namespace = 'CertiTrack', extra: Partial<Datum> = {}): Datum[] =>
  Array.from({ length: n }, (_, i) => ({ namespace, name: `m${i}`, value: i, timestamp: new Date(0), ...extra }));

const metricValue = async (registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> => {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? NaN;
};

class RecordingApi implements MetricDataApi {
  readonly calls: PutMetricDataInput[] = [];
  constructor(private readonly behaviour: (call: number) => Error | undefined = () => undefined) {}
  async putMetricData(input: PutMetricDataInput): Promise<void> {
    this.calls.push(input);
    const err = this.behaviour(this.calls.length);
    if (err) throw err;
  }
}
const serverError = (): Error => Object.assign(new Error('InternalServiceError'), { $metadata: { httpStatusCode: 500 } });
const rejected = (): Error => Object.assign(new Error('InvalidParameterValue'), { code: 'InvalidParameterValue', $metadata: { httpStatusCode: 400 } });

describe('batchMetricData', () => {
  it('splits at 1000 data per request, one namespace per request, order kept', () => {
    const batches = batchMetricData([...data(2500), ...data(3, 'CWAgent')]);
    expect(batches.map((b) => [b.Namespace, b.MetricData?.length])).toEqual([['CertiTrack', 1000], ['CertiTrack', 1000], ['CertiTrack', 500], ['CWAgent', 3]]);
    expect(batches.slice(0, 3).flatMap((b) => b.MetricData?.map((d) => d.MetricName))).toEqual(data(2500).map((d) => d.name));
  });

  it('also splits before the request body would pass the byte limit', () => {
    // 30 dimensions of 200-byte values make each datum about 7 KB: 1000 of them would be ~7 MB.
    const dims = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`d${i}`, 'x'.repeat(200)]));
    const batches = batchMetricData(data(1000, 'CertiTrack', { dimensions: dims }));
    const sizes = batches.map((b) => Buffer.byteLength(JSON.stringify({ ...b, MetricData: b.MetricData?.map((d) => ({ ...d, Timestamp: 0 })) })));
    expect(batches.length).toBeGreaterThan(6);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1_000_000);
    expect(batches.reduce((n, b) => n + (b.MetricData?.length ?? 0), 0)).toBe(1000);
  });
});

describe('MetricPublisher', () => {
  it('sends each batch once: retrying is the job of the SDK client, configured in the AWS context', async () => {
    const registry = new Registry();
    const api = new RecordingApi((n) => (n === 1 ? serverError() : undefined));
    const publisher = new MetricPublisher(api, registry);
    expect(await publisher.publish(data(10))).toEqual({ sent: 0, failed: 10, requests: 1 });
    expect(api.calls).toHaveLength(1);
    expect(await publisher.publish(data(10))).toEqual({ sent: 10, failed: 0, requests: 1 });
    expect(await metricValue(registry, 'certitrack_cloudwatch_datapoints_total', { result: 'sent' })).toBe(10);
    expect(await metricValue(registry, 'certitrack_cloudwatch_publish_failures_total')).toBe(1);
  });

  it('counts a failed batch and its data as failed; other batches still go', async () => {
    const registry = new Registry();
    const api = new RecordingApi((n) => (n === 1 ? serverError() : undefined));
    const publisher = new MetricPublisher(api, registry);
    expect(await publisher.publish(data(1500))).toEqual({ sent: 500, failed: 1000, requests: 2 });
    expect(await metricValue(registry, 'certitrack_cloudwatch_publish_failures_total')).toBe(1);
    expect(await metricValue(registry, 'certitrack_cloudwatch_datapoints_total', { result: 'failed' })).toBe(1000);
    expect(await metricValue(registry, 'certitrack_cloudwatch_datapoints_total', { result: 'sent' })).toBe(500);
  });

  it('gives up on a request CloudWatch rejected as invalid', async () => {
    const registry = new Registry();
    const api = new RecordingApi(() => rejected());
    const publisher = new MetricPublisher(api, registry);
    expect(await publisher.publish(data(5))).toEqual({ sent: 0, failed: 5, requests: 1 });
  });

  it('keeps NaN and infinite values out of requests but counts them failed', async () => {
    const registry = new Registry();
    const api = new RecordingApi();
    const publisher = new MetricPublisher(api, registry);
    const result = await publisher.publish([...data(2), { namespace: 'CertiTrack', name: 'bad', value: NaN }, { namespace: 'CertiTrack', name: 'inf', value: Infinity }]);
    expect(result).toEqual({ sent: 2, failed: 2, requests: 1 });
    expect(api.calls[0]?.MetricData?.map((d) => d.MetricName)).toEqual(['m0', 'm1']);
  });
});

describe('PublishLoop', () => {
  it('collects and publishes each round; without a publisher it still collects (for /metrics)', async () => {
    let collected = 0;
    const source = { collect: async (): Promise<Datum[]> => (collected++, data(3)) };
    const api = new RecordingApi();
    const loop = new PublishLoop(source, new MetricPublisher(api, new Registry()), { intervalMs: 20 });
    loop.start();
    await new Promise((r) => setTimeout(r, 110));
    await loop.stop();
    const rounds = collected;
    expect(rounds).toBeGreaterThanOrEqual(3);
    expect(api.calls.length).toBe(rounds);
    await new Promise((r) => setTimeout(r, 60));
    expect(collected).toBe(rounds); // stopped means stopped
    const offline = new PublishLoop(source, undefined);
    expect(await offline.runOnce()).toBeUndefined();
    expect(collected).toBe(rounds + 1);
  });
});
