import type { KindName } from '../kinds/index.js';
import { checkAlarms } from './alarm.js';
import { checkBackups } from './backup.js';
import { checkCertificates } from './certificate.js';
import type { CrossDocumentCheck } from './check-context.js';
import { checkSchedules } from './schedule.js';
import { checkServices } from './service.js';

/** The cross-document checks of each kind, run by the loader once every document has parsed. */
export const crossDocumentChecks: Partial<Record<KindName, CrossDocumentCheck>> = {
  Service: checkServices,
  Schedule: checkSchedules,
  Certificate: checkCertificates,
  Backup: checkBackups,
  Alarm: checkAlarms,
};
