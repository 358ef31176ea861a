import { Counter, type Registry } from 'prom-client';
import type { AlarmsApi, AlarmWithTags } from '../adapters/cloudwatch.js';
import type { AwsContext } from '../aws/context.js';
import { ALARM_NAME_PREFIX } from '../manifests/kinds/alarm.js';
import {
  type AlarmAction,
  type AlarmObservation,
  AlarmSpecError,
  type DesiredAlarm,
  desiredAlarm,
  missingTags,
  normalizeObserved,
  ownershipOf,
  planAlarm,
  TAG_RESOURCE,
} from './alarm-plan.js';
import { type PlannedAction, type ReconcileContext, type ReconcileResult, type LegacyReconciler, resourceKey, TerminalError } from './types.js';

const KIND = 'Alarm';
const CHANGE_ACTIONS = ['create', 'update', 'tag', 'delete'] as const;

export interface AlarmReconcilerOptions {
  /** This agent's instance name: part of the ownership tags. */
  instance: string;
  /** How often a settled alarm is looked at again, so console edits are undone. Default 5 minutes. */
  requeueAfterMs?: number;
}

/**
 * Keeps CloudWatch metric alarms as the manifests declare them. PutMetricAlarm replaces a whole
 * alarm, so it is called only when a field differs; tags go through TagResource because
 * PutMetricAlarm applies them only on creation. Alarms without this instance's ownership tags are
 * never modified or deleted.
 */
export class AlarmReconciler implements LegacyReconciler {
  readonly kind = KIND;
  private readonly changes: Counter<'action'>;
  private readonly requeueAfterMs: number;

  constructor(
    private readonly api: AlarmsApi | undefined,
    private readonly aws: AwsContext,
    registry: Registry,
    private readonly opts: AlarmReconcilerOptions,
  ) {
    this.requeueAfterMs = opts.requeueAfterMs ?? 5 * 60_000;
    this.changes = new Counter({
      name: 'certitrack_alarm_changes_total',
      help: 'CloudWatch alarm changes made by the agent, by action (drift repairs included).',
      labelNames: ['action'],
      registers: [registry],
    });
    for (const a of CHANGE_ACTIONS) this.changes.labels(a).inc(0);
  }

  private get disabledReason(): string | undefined {
    if (!this.aws.enabled) return this.aws.reason;
    if (!this.api) return 'no CloudWatch client configured';
    return undefined;
  }

  async listOwned(): Promise<string[]> {
    if (this.disabledReason || !this.api) return [];
    const owned = (await this.api.describeOwned(ALARM_NAME_PREFIX)).filter((a) => ownershipOf(a.tags, this.opts.instance) === 'self');
    return [...new Set(owned.map((a) => a.tags[TAG_RESOURCE]).filter((n): n is string => !!n))].sort();
  }

  async plan(name: string, ctx: ReconcileContext): Promise<PlannedAction[]> {
    const disabled = this.disabledReason;
    if (disabled) return ctx.desired.get(KIND, name) ? [{ kind: KIND, name, action: 'skip', reason: `AWS disabled: ${disabled}` }] : [];
    let desired: DesiredAlarm | undefined;
    try {
      desired = this.desired(name, ctx);
    } catch (err) {
      if (err instanceof AlarmSpecError) return [{ kind: KIND, name, action: 'skip', reason: err.message }];
      throw err;
    }
    const actions = planAlarm(desired, await this.observe(name, desired), this.opts.instance);
    return actions.map((a) => toPlanned(name, a));
  }

  async reconcile(name: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const key = resourceKey(KIND, name);
    const resource = ctx.desired.get(KIND, name);
    const disabled = this.disabledReason;
    if (disabled) {
      if (resource) {
        ctx.status.setCondition(key, 'Disabled', 'True', 'AwsUnavailable', disabled);
        ctx.status.setCondition(key, 'Ready', 'False', 'Disabled', disabled);
      }
      return {};
    }
    const api = this.api as AlarmsApi;

    let desired: DesiredAlarm | undefined;
    try {
      desired = this.desired(name, ctx);
    } catch (err) {
      if (!(err instanceof AlarmSpecError)) throw err;
      ctx.status.setCondition(key, 'Ready', 'False', 'InvalidSpec', err.message);
      throw new TerminalError(err.message);
    }

    const observation = await this.observe(name, desired);
    const actions = planAlarm(desired, observation, this.opts.instance);
    let conflict: string | undefined;
    for (const action of actions) {
      switch (action.type) {
        case 'create':
          await api.put(action.input);
          await this.ensureTagsAfterCreate(api, desired as DesiredAlarm);
          break;
        case 'update':
          await api.put(action.input);
          break;
        case 'tag':
          await api.tag(action.arn, action.tags);
          break;
        case 'delete':
          await api.delete(action.names);
          break;
        case 'conflict':
          conflict = action.reason;
          ctx.log.warn({ alarm: action.alarmName }, action.reason);
          continue;
      }
      this.changes.labels(action.type).inc();
      ctx.log.info({ action: action.type, reason: action.reason }, `alarm ${action.type}`);
    }

    if (!desired) {
      ctx.status.remove(key);
      return {};
    }
    ctx.status.setCondition(key, 'Disabled', 'False', 'AwsAvailable', '');
    const alarmName = desired.alarm.AlarmName;
    if (conflict) {
      ctx.status.setCondition(key, 'Ready', 'False', 'Conflict', conflict);
    } else {
      const applied = actions.filter((a) => a.type !== 'conflict');
      const message = applied.length ? applied.map((a) => `${a.type}: ${a.reason}`).join('; ') : `alarm ${alarmName} is as declared`;
      ctx.status.setCondition(key, 'Ready', 'True', applied.length ? 'Applied' : 'InSync', message);
    }
    ctx.status.setDetails(key, { alarmName, lastChanges: actions.map((a) => `${a.type}: ${a.reason}`) });
    return { requeueAfterMs: this.requeueAfterMs };
  }

  private desired(name: string, ctx: ReconcileContext): DesiredAlarm | undefined {
    const resource = ctx.desired.get(KIND, name);
    if (!resource) return undefined;
    return desiredAlarm(name, resource.spec, { instance: this.opts.instance, instanceId: this.aws.instanceId });
  }

  private async observe(name: string, desired: DesiredAlarm | undefined): Promise<AlarmObservation> {
    const api = this.api as AlarmsApi;
    const managed = await api.describeOwned(ALARM_NAME_PREFIX);
    const mine = managed.filter((a) => ownershipOf(a.tags, this.opts.instance) === 'self');
    const ownedForResource = mine.filter((a) => a.tags[TAG_RESOURCE] === name).map((a) => a.alarm.AlarmName ?? '');
    let byName: AlarmWithTags | undefined;
    if (desired) {
      const alarmName = desired.alarm.AlarmName;
      // Alarms without the managed-by tag are not in `managed`: look the name up on its own.
      byName = managed.find((a) => a.alarm.AlarmName === alarmName) ?? (await api.describe(alarmName));
    }
    return {
      byName: byName && { alarm: normalizeObserved(byName.alarm), arn: byName.arn, tags: byName.tags },
      ownedForResource,
    };
  }

  /** Belt and braces: an emulator (or a partial failure) may have created the alarm without its tags. */
  private async ensureTagsAfterCreate(api: AlarmsApi, desired: DesiredAlarm): Promise<void> {
    const created = await api.describe(desired.alarm.AlarmName);
    if (!created) throw new Error(`alarm ${desired.alarm.AlarmName} was not found right after PutMetricAlarm`);
    const tags = missingTags(desired.tags, created.tags);
    if (Object.keys(tags).length > 0) await api.tag(created.arn, tags);
  }
}

function toPlanned(name: string, a: AlarmAction): PlannedAction {
  switch (a.type) {
    case 'create':
      return { kind: KIND, name, action: 'create', reason: a.reason };
    case 'update':
    case 'tag':
      return { kind: KIND, name, action: 'update', reason: a.reason };
    case 'delete':
      return { kind: KIND, name, action: 'remove', reason: `delete ${a.names.join(', ')}: ${a.reason}` };
    case 'conflict':
      return { kind: KIND, name, action: 'skip', reason: a.reason };
  }
}
