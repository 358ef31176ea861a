import type { AlarmsApi } from '../../adapters/cloudwatch.js';
import { type ApplyContext, type ReconcileResult, TerminalError } from '../../engine/reconcile.js';
import { effectiveAlarmName } from '../../manifests/kinds/alarm.js';
import { setAlarmCondition } from './conditions.js';
import { missingTags } from './normalize.js';
import type { AlarmAction, AlarmObservation } from './plan.js';

type ChangeAction = Extract<AlarmAction, { type: 'create' | 'update' | 'tag' | 'delete' }>;

export interface AlarmApplyDeps {
  /** Undefined only when AWS is disabled, and then the plan holds nothing to perform. */
  api: AlarmsApi | undefined;
  onChange: (type: ChangeAction['type']) => void;
  /** certitrack_alarm_in_sync: 1 in sync, 0 not (or not known), undefined no longer declared. */
  inSync: (value: 0 | 1 | undefined) => void;
  requeueAfterMs: number;
}

const isChangeAction = (a: AlarmAction): a is ChangeAction => a.type === 'create' || a.type === 'update' || a.type === 'tag' || a.type === 'delete';
const summary = (a: AlarmAction): string => `${a.type}: ${a.reason}`;

/** Belt and braces: an emulator (or a partial failure) may have created the alarm without its tags. */
async function ensureTagsAfterCreate(api: AlarmsApi, action: Extract<AlarmAction, { type: 'create' }>): Promise<void> {
  const name = action.input.AlarmName ?? '';
  const created = await api.describe(name);
  if (!created) throw new Error(`alarm ${name} was not found right after PutMetricAlarm`);
  const tags = missingTags(action.tags, created.tags);
  if (Object.keys(tags).length > 0) await api.tag(created.arn, tags);
}

async function perform(api: AlarmsApi, action: ChangeAction): Promise<void> {
  switch (action.type) {
    case 'create':
      await api.put(action.input);
      return ensureTagsAfterCreate(api, action);
    case 'update':
      return api.put(action.input);
    case 'tag':
      return api.tag(action.arn, action.tags);
    case 'delete':
      return api.delete(action.names);
  }
}

/**
 * Performs an Alarm plan and reports it. A change that fails leaves `Ready=False, ApplyFailed` with
 * the error and rethrows, so the engine retries with backoff; a bad spec is terminal.
 */
export async function applyAlarmActions(actions: readonly AlarmAction[], ctx: ApplyContext<AlarmObservation>, deps: AlarmApplyDeps): Promise<ReconcileResult> {
  const { key, status } = ctx;
  const declared = ctx.desired.get('Alarm', ctx.name);
  const disabled = actions.find((a) => a.type === 'disabled');
  if (disabled) {
    deps.inSync(declared ? 0 : undefined);
    setAlarmCondition(status, key, 'Disabled', 'AwsUnavailable', disabled.cause);
    setAlarmCondition(status, key, 'Ready', 'Disabled', disabled.cause);
    return {};
  }
  const invalid = actions.find((a) => a.type === 'invalid');
  if (invalid) {
    deps.inSync(0);
    setAlarmCondition(status, key, 'Ready', 'InvalidSpec', invalid.reason);
    throw new TerminalError(invalid.reason);
  }

  const applied: ChangeAction[] = [];
  const changes = actions.filter(isChangeAction);
  // Out of sync until every repair below has gone through (one may throw half-way).
  if (declared && changes.length > 0) deps.inSync(0);
  for (const action of changes) {
    try {
      if (!deps.api) throw new Error('no CloudWatch client configured');
      await perform(deps.api, action);
    } catch (err) {
      if (declared) {
        const message = `${action.type} failed: ${(err as Error).message}; retrying`;
        setAlarmCondition(status, key, 'Ready', 'ApplyFailed', message);
        status.setDetails(key, { lastChanges: [...applied, action].map(summary) });
      }
      throw err;
    }
    applied.push(action);
    deps.onChange(action.type);
    ctx.log.info({ action: action.type, reason: action.reason }, `alarm ${action.type}`);
  }

  if (!declared) {
    deps.inSync(undefined);
    status.remove(key);
    return {};
  }
  const alarmName = effectiveAlarmName(ctx.name, declared.spec);
  setAlarmCondition(status, key, 'Disabled', 'AwsAvailable', '');
  const conflict = actions.find((a) => a.type === 'conflict');
  deps.inSync(conflict ? 0 : 1);
  if (conflict) {
    ctx.log.warn({ alarm: conflict.alarmName }, conflict.reason);
    setAlarmCondition(status, key, 'Ready', 'Conflict', conflict.reason);
  } else if (applied.length > 0) {
    setAlarmCondition(status, key, 'Ready', 'Applied', applied.map(summary).join('; '));
  } else {
    setAlarmCondition(status, key, 'Ready', 'InSync', `alarm ${alarmName} is as declared`);
  }
  status.setDetails(key, { alarmName, lastChanges: actions.map(summary) });
  return { requeueAfterMs: deps.requeueAfterMs };
}
