import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/**
 * An in-memory CloudWatch speaking the subset of the AWS JSON 1.0 protocol the agent uses, as
 * @aws-sdk/client-cloudwatch 3.1164.0 sends it (captured in test/integration/alarms.test.ts):
 *
 *   POST /  Content-Type: application/x-amz-json-1.0
 *           X-Amz-Target: GraniteServiceVersion20100801.<Operation>
 *           x-amzn-query-mode: true   (the service is "awsQueryCompatible")
 *           Content-Encoding: gzip    (PutMetricData bodies over 10 KiB)
 *
 * Errors carry `x-amzn-query-error: <QueryCode>;Sender` (what the SDK names the error after) and
 * a `__type` body. Timestamps travel as epoch seconds.
 *
 * Faithful where it matters to the agent: PutMetricAlarm replaces every field of an existing alarm
 * and applies Tags only when it creates one; DeleteAlarms refuses more than 100 names (and ignores
 * names that do not exist); PutMetricData refuses more than 1000 data or a body over 1 MB;
 * DescribeAlarms pages (MaxRecords ≤ 100) and leaves out lists never set.
 */

type Json = Record<string, unknown>;

export interface StoredAlarm {
  fields: Json;
  tags: Map<string, string>;
  arn: string;
}

export interface StoredDatum {
  namespace: string;
  datum: Json;
}

export interface RecordedRequest {
  operation: string;
  headers: IncomingMessage['headers'];
  input: Json;
}

export interface InjectedFailure {
  status: number;
  code: string;
  /** How many requests fail before the operation works again; Infinity for all. */
  remaining: number;
}

export interface FakeCloudWatch {
  readonly url: string;
  readonly alarms: Map<string, StoredAlarm>;
  readonly datapoints: StoredDatum[];
  readonly requests: RecordedRequest[];
  /** Make the next `count` calls of an operation fail with this status and error code. */
  failNext(operation: string, count: number, status?: number, code?: string): void;
  reset(): void;
  close(): Promise<void>;
}

const TARGET_PREFIX = 'GraniteServiceVersion20100801.';
const ACCOUNT = '123456789012';
const MAX_BODY = 1024 * 1024;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly queryCode: string,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const invalid = (message: string): ApiError => new ApiError(400, 'InvalidParameterValue', 'InvalidParameterValueException', message);
const missing = (name: string): ApiError => new ApiError(400, 'MissingParameter', 'MissingRequiredParameterException', `The parameter ${name} is required.`);
const notFound = (arn: string): ApiError => new ApiError(404, 'ResourceNotFoundException', 'ResourceNotFoundException', `${arn} not found`);

const nowSeconds = (): number => Date.now() / 1000;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Fields PutMetricAlarm sets; everything else of a stored alarm is state kept by the service. */
const ALARM_FIELDS = [
  'AlarmName', 'AlarmDescription', 'ActionsEnabled', 'OKActions', 'AlarmActions', 'InsufficientDataActions', 'MetricName',
  'Namespace', 'Statistic', 'ExtendedStatistic', 'Dimensions', 'Period', 'Unit', 'EvaluationPeriods', 'DatapointsToAlarm',
  'Threshold', 'ComparisonOperator', 'TreatMissingData', 'EvaluateLowSampleCountPercentile', 'Metrics', 'ThresholdMetricId',
];

function validPeriod(p: unknown): boolean {
  return typeof p === 'number' && Number.isInteger(p) && (p === 10 || p === 30 || (p > 0 && p % 60 === 0));
}

export async function startFakeCloudWatch(region = 'us-east-1'): Promise<FakeCloudWatch> {
  const alarms = new Map<string, StoredAlarm>();
  const datapoints: StoredDatum[] = [];
  const requests: RecordedRequest[] = [];
  const failures = new Map<string, InjectedFailure>();
  const arnOf = (name: string): string => `arn:aws:cloudwatch:${region}:${ACCOUNT}:alarm:${name}`;
  const byArn = (arn: string): StoredAlarm => {
    for (const a of alarms.values()) if (a.arn === arn) return a;
    throw notFound(arn);
  };

  const operations: Record<string, (input: Json) => Json> = {
    PutMetricAlarm(input) {
      const name = str(input.AlarmName);
      if (!name) throw missing('AlarmName');
      if (typeof input.EvaluationPeriods !== 'number') throw missing('EvaluationPeriods');
      if (!str(input.ComparisonOperator)) throw missing('ComparisonOperator');
      const metrics = list(input.Metrics);
      if (metrics.length === 0) {
        if (!str(input.MetricName) || !str(input.Namespace)) throw invalid('MetricName and Namespace are required when Metrics is not set.');
        if (!str(input.Statistic) === !str(input.ExtendedStatistic)) throw invalid('Exactly one of Statistic or ExtendedStatistic must be set.');
        if (!validPeriod(input.Period)) throw invalid('Period must be 10, 30 or a multiple of 60.');
      } else if (input.MetricName !== undefined || input.Period !== undefined) {
        throw new ApiError(400, 'InvalidParameterCombination', 'InvalidParameterCombinationException', 'Metrics cannot be combined with MetricName or Period.');
      }
      for (const key of ['AlarmActions', 'OKActions', 'InsufficientDataActions']) {
        if (list(input[key]).length > 5) throw invalid(`The collection ${key} must not have a size greater than 5.`);
      }
      const fields: Json = {};
      for (const k of ALARM_FIELDS) if (input[k] !== undefined) fields[k] = input[k];
      const existing = alarms.get(name);
      const now = nowSeconds();
      if (existing) {
        // The whole configuration is replaced; tags and state survive; Tags in the request are ignored.
        existing.fields = { ...fields, AlarmArn: existing.arn, StateValue: existing.fields.StateValue, StateReason: existing.fields.StateReason, StateUpdatedTimestamp: existing.fields.StateUpdatedTimestamp, AlarmConfigurationUpdatedTimestamp: now };
      } else {
        const tags = new Map<string, string>();
        for (const t of list(input.Tags) as Json[]) tags.set(String(t.Key), String(t.Value));
        const arn = arnOf(name);
        alarms.set(name, {
          arn,
          tags,
          fields: { ...fields, AlarmArn: arn, StateValue: 'INSUFFICIENT_DATA', StateReason: 'Unchecked: Initial alarm creation', StateUpdatedTimestamp: now, AlarmConfigurationUpdatedTimestamp: now },
        });
      }
      return {};
    },

    DescribeAlarms(input) {
      const names = list(input.AlarmNames).map(String);
      const prefix = str(input.AlarmNamePrefix);
      if (names.length > 100) throw new ApiError(400, 'ValidationError', 'ValidationException', 'The collection AlarmNames must not have a size greater than 100.');
      if (names.length > 0 && prefix !== undefined) throw new ApiError(400, 'InvalidParameterCombination', 'InvalidParameterCombinationException', 'AlarmNames and AlarmNamePrefix cannot be combined.');
      const types = list(input.AlarmTypes);
      if (types.length > 0 && !types.includes('MetricAlarm')) return { MetricAlarms: [], CompositeAlarms: [] };
      const max = typeof input.MaxRecords === 'number' ? input.MaxRecords : 50;
      if (max < 1 || max > 100) throw invalid('MaxRecords must be between 1 and 100.');
      const matching = [...alarms.keys()]
        .sort()
        .filter((n) => (names.length ? names.includes(n) : prefix === undefined || n.startsWith(prefix)))
        .filter((n) => input.StateValue === undefined || alarms.get(n)?.fields.StateValue === input.StateValue);
      const start = input.NextToken === undefined ? 0 : Number(Buffer.from(String(input.NextToken), 'base64url').toString());
      if (!Number.isInteger(start) || start < 0) throw new ApiError(400, 'InvalidNextToken', 'InvalidNextToken', 'The service cannot find the specified token.');
      const page = matching.slice(start, start + max);
      const out: Json = { MetricAlarms: page.map((n) => structuredClone(alarms.get(n)?.fields)), CompositeAlarms: [] };
      if (start + max < matching.length) out.NextToken = Buffer.from(String(start + max)).toString('base64url');
      return out;
    },

    DeleteAlarms(input) {
      const names = list(input.AlarmNames).map(String);
      if (names.length === 0) throw missing('AlarmNames');
      if (names.length > 100) throw new ApiError(400, 'ValidationError', 'ValidationException', '1 validation error detected: Value at \'alarmNames\' failed to satisfy constraint: Member must have length less than or equal to 100');
      for (const n of names) alarms.delete(n);
      return {};
    },

    TagResource(input) {
      const alarm = byArn(String(input.ResourceARN));
      const tags = list(input.Tags) as Json[];
      const keys = new Set([...alarm.tags.keys(), ...tags.map((t) => String(t.Key))]);
      if (keys.size > 50) throw new ApiError(400, 'LimitExceededException', 'LimitExceededException', 'A resource can have at most 50 tags.');
      for (const t of tags) alarm.tags.set(String(t.Key), String(t.Value));
      return {};
    },

    ListTagsForResource(input) {
      const alarm = byArn(String(input.ResourceARN));
      return { Tags: [...alarm.tags].map(([Key, Value]) => ({ Key, Value })) };
    },

    PutMetricData(input) {
      const namespace = str(input.Namespace);
      if (!namespace) throw missing('Namespace');
      if (namespace.startsWith('AWS/')) throw invalid(`The value ${namespace} for parameter Namespace is invalid.`);
      const data = list(input.MetricData) as Json[];
      if (data.length === 0) throw missing('MetricData');
      if (data.length > 1000) throw invalid('The collection MetricData must not have a size greater than 1000.');
      for (const [i, d] of data.entries()) {
        if (!str(d.MetricName)) throw missing(`MetricData.member.${i + 1}.MetricName`);
        if (d.Value !== undefined && (typeof d.Value !== 'number' || !Number.isFinite(d.Value))) throw invalid(`The value for parameter MetricData.member.${i + 1}.Value is invalid.`);
        if (list(d.Dimensions).length > 30) throw invalid('The collection Dimensions must not have a size greater than 30.');
      }
      for (const d of data) datapoints.push({ namespace, datum: d });
      return {};
    },
  };

  const send = (res: ServerResponse, status: number, body: Json, headers: Record<string, string> = {}): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': crypto.randomUUID(), ...headers });
    res.end(text);
  };
  const sendError = (res: ServerResponse, e: ApiError): void =>
    send(res, e.status, { __type: `com.amazonaws.cloudwatch#${e.type}`, message: e.message }, { 'x-amzn-query-error': `${e.queryCode};Sender` });

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      chunks.push(c);
    });
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-amz-json-1.0' || !operations[operation]) {
        return sendError(res, new ApiError(400, 'InvalidAction', 'InvalidAction', `unsupported request ${req.method} ${target}`));
      }
      if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) {
        return sendError(res, new ApiError(403, 'MissingAuthenticationToken', 'MissingAuthenticationToken', 'Request is missing Authentication Token'));
      }
      let raw = Buffer.concat(chunks, size);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      if (raw.length > MAX_BODY) return sendError(res, new ApiError(413, 'RequestEntityTooLarge', 'RequestEntityTooLarge', `Request size ${raw.length} exceeded ${MAX_BODY} bytes`));
      let input: Json;
      try {
        input = raw.length ? (JSON.parse(raw.toString('utf8')) as Json) : {};
      } catch {
        return sendError(res, new ApiError(400, 'SerializationException', 'SerializationException', 'body is not JSON'));
      }
      requests.push({ operation, headers: req.headers, input });
      const failure = failures.get(operation);
      if (failure && failure.remaining > 0) {
        failure.remaining--;
        return sendError(res, new ApiError(failure.status, failure.code, failure.code, 'injected failure'));
      }
      try {
        send(res, 200, (operations[operation] as (i: Json) => Json)(input));
      } catch (err) {
        if (err instanceof ApiError) sendError(res, err);
        else send(res, 500, { __type: 'InternalServiceFault', message: String(err) }, { 'x-amzn-query-error': 'InternalServiceError;Receiver' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    alarms,
    datapoints,
    requests,
    failNext(operation, count, status = 500, code = 'InternalServiceError') {
      failures.set(operation, { status, code, remaining: count });
    },
    reset() {
      alarms.clear();
      datapoints.length = 0;
      requests.length = 0;
      failures.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
