import { Counter, Gauge, type Registry } from 'prom-client';
import type { AlarmsApi } from '../../adapters/cloudwatch.js';
import type { AwsContext } from '../../aws/context.js';
import type { ApplyContext, ObserveContext, ReconcileResult, Reconciler } from '../../engine/reconcile.js';
import { ALARM_NAME_PREFIX, type AlarmSpec, effectiveAlarmName } from '../../manifests/kinds/alarm.js';
import type { Resource } from '../../manifests/resource.js';
import { applyAlarmActions } from './apply.js';
import { normalizeObserved, ownershipOf, TAG_RESOURCE } from './normalize.js';
import { type AlarmAction, type AlarmObservation, type AlarmOwner, plan } from './plan.js';

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
export class AlarmReconciler implements Reconciler<'Alarm', AlarmObservation, AlarmAction> {
  readonly kind = KIND;
  private readonly changes: Counter<'action'>;
  /** 1 once CloudWatch was seen to hold the alarm as declared; 0 while it does not, or cannot be checked. */
  private readonly inSync: Gauge<'alarm'>;
  private readonly requeueAfterMs: number;
  private readonly owner: AlarmOwner;

  constructor(
    private readonly api: AlarmsApi | undefined,
    private readonly aws: AwsContext,
    registry: Registry,
    opts: AlarmReconcilerOptions,
  ) {
    this.requeueAfterMs = opts.requeueAfterMs ?? 5 * 60_000;
    this.owner = { instance: opts.instance, instanceId: aws.instanceId };
    this.changes = new Counter({
      name: 'certitrack_alarm_changes_total',
      help: 'CloudWatch alarm changes made by the agent, by action (drift repairs included).',
      labelNames: ['action'],
      registers: [registry],
    });
    for (const a of CHANGE_ACTIONS) this.changes.labels(a).inc(0);
    this.inSync = new Gauge({
      name: 'certitrack_alarm_in_sync',
      help: '1 when CloudWatch was last seen holding the alarm as declared; 0 while it differs, conflicts, is disabled or cannot be checked.',
      labelNames: ['alarm'],
      registers: [registry],
    });
  }

  private get disabledReason(): string | undefined {
    if (!this.aws.enabled) return this.aws.reason;
    if (!this.api) return 'no CloudWatch client configured';
    return undefined;
  }

  async listOwned(): Promise<string[]> {
    if (this.disabledReason || !this.api) return [];
    const owned = (await this.api.describeOwned(ALARM_NAME_PREFIX)).filter((a) => ownershipOf(a.tags, this.owner.instance) === 'self');
    return [...new Set(owned.map((a) => a.tags[TAG_RESOURCE]).filter((n): n is string => !!n))].sort();
  }

  /** DescribeAlarms (by prefix, with tags) and, for a name without the managed-by tag, by that name. Reads only. */
  async observe(name: string, ctx: ObserveContext): Promise<AlarmObservation> {
    try {
      return await this.read(name, ctx);
    } catch (err) {
      // Not known to be in sync while CloudWatch cannot be asked (the gauge is about the agent, not an effect on CloudWatch).
      if (ctx.desired.get(KIND, name)) this.inSync.set({ alarm: name }, 0);
      throw err;
    }
  }

  private async read(name: string, ctx: ObserveContext): Promise<AlarmObservation> {
    const disabled = this.disabledReason;
    if (disabled !== undefined || !this.api) return { disabled: disabled ?? 'no CloudWatch client configured', byName: undefined, ownedForResource: [] };
    const managed = await this.api.describeOwned(ALARM_NAME_PREFIX);
    const ownedForResource = managed
      .filter((a) => ownershipOf(a.tags, this.owner.instance) === 'self' && a.tags[TAG_RESOURCE] === name)
      .map((a) => a.alarm.AlarmName ?? '');
    const resource = ctx.desired.get(KIND, name);
    if (!resource) return { byName: undefined, ownedForResource };
    const alarmName = effectiveAlarmName(name, resource.spec);
    // Alarms without the managed-by tag are not in `managed`: look the name up on its own.
    const byName = managed.find((a) => a.alarm.AlarmName === alarmName) ?? (await this.api.describe(alarmName));
    return { byName: byName && { alarm: normalizeObserved(byName.alarm), arn: byName.arn, tags: byName.tags }, ownedForResource };
  }

  plan(desired: Resource<AlarmSpec> | undefined, observed: AlarmObservation, now: Date): AlarmAction[] {
    return plan(desired, observed, now, this.owner);
  }

  apply(actions: readonly AlarmAction[], ctx: ApplyContext<AlarmObservation>): Promise<ReconcileResult> {
    return applyAlarmActions(actions, ctx, {
      api: this.api,
      onChange: (type) => this.changes.labels(type).inc(),
      inSync: (value) => (value === undefined ? this.inSync.remove({ alarm: ctx.name }) : this.inSync.set({ alarm: ctx.name }, value)),
      requeueAfterMs: this.requeueAfterMs,
    });
  }
}
