import { conditionSetter } from '../conditions.js';

/**
 * Every condition a Certificate can have (docs/conditions.md lists the same; test/unit/conditions-doc.test.ts
 * checks). `Ready` is about the pair in place; `Issuing` about getting the next one, so a failed
 * renewal of a certificate that is still valid shows on `Issuing` and leaves `Ready` True.
 */
export const CERTIFICATE_CONDITIONS = {
  Ready: {
    Valid: 'True',
    Issuing: 'False',
    IssueFailed: 'False',
    OrderRateBound: 'False',
    ReloadFailed: 'False',
  },
  Issuing: {
    Scheduled: 'False',
    Pending: 'True',
    IssueFailed: 'False',
    OrderRateBound: 'False',
  },
} as const;

export type IssuingReason = keyof (typeof CERTIFICATE_CONDITIONS)['Issuing'];
export type ReadyReason = keyof (typeof CERTIFICATE_CONDITIONS)['Ready'];

export const setCertificateCondition = conditionSetter(CERTIFICATE_CONDITIONS);
