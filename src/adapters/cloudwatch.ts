import {
  type CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  type DescribeAlarmsCommandOutput,
  ListTagsForResourceCommand,
  type MetricAlarm,
  type PutMetricAlarmInput,
  PutMetricAlarmCommand,
  type PutMetricDataInput,
  PutMetricDataCommand,
  TagResourceCommand,
} from '@aws-sdk/client-cloudwatch';
import { LABEL_MANAGED_BY, MANAGED_BY_VALUE } from './docker-types.js';

/** DeleteAlarms and DescribeAlarms(AlarmNames) take at most 100 names a request. */
export const MAX_ALARM_NAMES_PER_REQUEST = 100;

export interface AlarmWithTags {
  alarm: MetricAlarm;
  arn: string;
  tags: Record<string, string>;
}

/**
 * The CloudWatch alarm calls the Alarm reconciler uses. Errors are the SDK's, rethrown with the
 * operation and alarm named; the engine retries with backoff.
 */
export interface AlarmsApi {
  /** Metric alarms whose name starts with `prefix` and that carry the managed-by tag (any agent instance), with their tags. */
  describeOwned(prefix: string): Promise<AlarmWithTags[]>;
  /** One metric alarm by exact name, owned or not, with its tags; undefined if there is none. */
  describe(name: string): Promise<AlarmWithTags | undefined>;
  /** PutMetricAlarm: creates, or replaces every field of, the alarm. Tags in the input apply only on creation. */
  put(alarm: PutMetricAlarmInput): Promise<void>;
  /** TagResource: adds or overwrites these tags. */
  tag(arn: string, tags: Record<string, string>): Promise<void>;
  /** DeleteAlarms in batches of at most 100; names that do not exist are not an error. */
  delete(names: readonly string[]): Promise<void>;
  listTags(arn: string): Promise<Record<string, string>>;
}

/** The one call the MetricPublisher needs. */
export interface MetricDataApi {
  putMetricData(input: PutMetricDataInput, signal?: AbortSignal): Promise<void>;
}

export class CloudWatchAdapter implements AlarmsApi, MetricDataApi {
  constructor(private readonly client: Pick<CloudWatchClient, 'send'>) {}

  async describeOwned(prefix: string): Promise<AlarmWithTags[]> {
    const alarms: MetricAlarm[] = [];
    let NextToken: string | undefined;
    do {
      const page: DescribeAlarmsCommandOutput = await this.call('DescribeAlarms', prefix, () =>
        this.client.send(new DescribeAlarmsCommand({ AlarmNamePrefix: prefix, AlarmTypes: ['MetricAlarm'], MaxRecords: 100, NextToken })),
      );
      alarms.push(...(page.MetricAlarms ?? []));
      NextToken = page.NextToken;
    } while (NextToken);
    const out: AlarmWithTags[] = [];
    for (const alarm of alarms) {
      if (!alarm.AlarmArn) continue;
      const tags = await this.listTags(alarm.AlarmArn);
      if (tags[LABEL_MANAGED_BY] === MANAGED_BY_VALUE) out.push({ alarm, arn: alarm.AlarmArn, tags });
    }
    return out;
  }

  async describe(name: string): Promise<AlarmWithTags | undefined> {
    const res = await this.call('DescribeAlarms', name, () =>
      this.client.send(new DescribeAlarmsCommand({ AlarmNames: [name], AlarmTypes: ['MetricAlarm'] })),
    );
    const alarm = res.MetricAlarms?.find((a) => a.AlarmName === name);
    if (!alarm?.AlarmArn) return undefined;
    return { alarm, arn: alarm.AlarmArn, tags: await this.listTags(alarm.AlarmArn) };
  }

  async put(alarm: PutMetricAlarmInput): Promise<void> {
    await this.call('PutMetricAlarm', alarm.AlarmName, () => this.client.send(new PutMetricAlarmCommand(alarm)));
  }

  async tag(arn: string, tags: Record<string, string>): Promise<void> {
    const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    if (Tags.length === 0) return;
    await this.call('TagResource', arn, () => this.client.send(new TagResourceCommand({ ResourceARN: arn, Tags })));
  }

  async delete(names: readonly string[]): Promise<void> {
    for (let i = 0; i < names.length; i += MAX_ALARM_NAMES_PER_REQUEST) {
      const AlarmNames = names.slice(i, i + MAX_ALARM_NAMES_PER_REQUEST);
      try {
        await this.call('DeleteAlarms', `${AlarmNames.length} alarm(s) from ${AlarmNames[0]}`, () => this.client.send(new DeleteAlarmsCommand({ AlarmNames })));
      } catch (err) {
        // Already gone is deleted (idempotent effects); CloudWatch documents ResourceNotFound here.
        if ((err as { code?: string }).code !== 'ResourceNotFound') throw err;
      }
    }
  }

  async listTags(arn: string): Promise<Record<string, string>> {
    const res = await this.call('ListTagsForResource', arn, () => this.client.send(new ListTagsForResourceCommand({ ResourceARN: arn })));
    const tags: Record<string, string> = {};
    for (const t of res.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
    return tags;
  }

  async putMetricData(input: PutMetricDataInput, signal?: AbortSignal): Promise<void> {
    await this.call('PutMetricData', input.Namespace, () => this.client.send(new PutMetricDataCommand(input), { abortSignal: signal }));
  }

  private async call<T>(operation: string, subject: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      const wrapped = new Error(`CloudWatch ${operation} ${subject ?? ''} failed: ${e.name}: ${e.message}`, { cause: err });
      Object.assign(wrapped, { $metadata: e.$metadata, code: e.name });
      throw wrapped;
    }
  }
}
