import { conditionSetter } from '../conditions.js';

/** Every condition an Alarm can have (docs/conditions.md lists the same; test/unit/conditions-doc.test.ts checks). */
export const ALARM_CONDITIONS = {
  Ready: {
    InSync: 'True',
    Applied: 'True',
    Conflict: 'False',
    InvalidSpec: 'False',
    Disabled: 'False',
    ApplyFailed: 'False',
  },
  Disabled: {
    AwsUnavailable: 'True',
    AwsAvailable: 'False',
  },
} as const;

export const setAlarmCondition = conditionSetter(ALARM_CONDITIONS);
