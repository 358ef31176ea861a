import type { KindName } from '../kinds/index.js';
import { checkAlarms } from './alarm.js';
import { checkBackups } from './backup.js';
import { checkCertificates } from './certificate.js';
import type { CrossDocumentCheck } from './check-context.js';
import { checkHostAccess } from './host-access.js';
import { checkKeyFiles } from './key-file.js';
import { checkSchedules } from './schedule.js';
import { checkSecretValues } from './secret-values.js';
import { checkServices } from './service.js';

/** The cross-document checks of each kind, run by the loader once every document has parsed. */
export const crossDocumentChecks: Partial<Record<KindName, CrossDocumentCheck>> = {
  Service: checkServices,
  Schedule: checkSchedules,
  Certificate: checkCertificates,
  Backup: checkBackups,
  Alarm: checkAlarms,
};

/**
 * The checks that span kinds: what a manifest may touch on the host and where its secrets come
 * from, per the host policy (docs/security.md). Run after the per-kind checks.
 */
export const hostPolicyChecks: readonly CrossDocumentCheck[] = [checkHostAccess, checkSecretValues, checkKeyFiles];

/**
 * The checks of what already lies where the agent will write (an existing keyFile). In git mode a
 * commit is checked in its checkout but written to in the workspace (the loader's `addressAs`), so
 * these run against the workspace too.
 */
export const destinationChecks: readonly CrossDocumentCheck[] = [checkKeyFiles];
