import { resolve } from 'node:path';
import { Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { Namespace } from 'kubernetes-models/v1';
import type { DesiredState } from '../../manifests/desired-state.js';
import { sortErrors } from '../../manifests/load.js';
import type { ManifestError } from '../../manifests/source.js';
import { keptAlarms } from './alarm.js';
import { exportBackups } from './backup.js';
import { exportCertificates } from './certificate.js';
import { ExportContext, type ExportedObject, type ExportWarning, type KubernetesExportOptions } from './context.js';
import { KUSTOMIZE_CONFIG_FILE, kustomization, kustomizeConfig, objectFileName, secretsExample, toYaml } from './kustomization.js';
import { exportNetworks } from './network.js';
import { exportReadme } from './readme.js';
import { SECRET_FILES_DIR, SECRETS_ENV_FILE } from './secret-keys.js';
import { exportSchedules } from './schedule.js';
import { exportServices } from './service.js';
import { exportVolumes } from './volume.js';

export type { KubernetesExportOptions, ExportWarning } from './context.js';

export interface KubernetesExport {
  /** Path inside the output folder → content. */
  files: Map<string, Buffer | string>;
  objects: readonly ExportedObject[];
  warnings: readonly ExportWarning[];
}

export type KubernetesExportResult = { ok: true; export: KubernetesExport } | { ok: false; errors: ManifestError[]; warnings: readonly ExportWarning[] };

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Translates a loaded folder of manifests into a kustomize base: one file per object (each checked
 * against the Kubernetes or cert-manager schema), kustomization.yaml, README.md and
 * secrets.env.example. Every problem is collected, each naming the manifest file, line and field;
 * with any, nothing is returned to write. Reads the files the manifests bind-mount from inside the
 * folder (they are copied into ConfigMaps); never reads a secret.
 */
export function exportKubernetes(state: DesiredState, root: string, options: KubernetesExportOptions, source = root): KubernetesExportResult {
  if (options.namespace !== undefined && (!NAMESPACE.test(options.namespace) || options.namespace.length > 63))
    throw new Error(`--namespace "${options.namespace}" is not a valid namespace name (lower-case letters, digits and "-", at most 63)`);
  const ctx = new ExportContext(state, resolve(root), options);
  // Volumes first: workloads and jobs refer to the claims by name.
  exportVolumes(ctx);
  exportNetworks(ctx);
  exportCertificates(ctx);
  exportServices(ctx);
  exportSchedules(ctx);
  exportBackups(ctx);
  const alarms = keptAlarms(ctx);
  if (ctx.errors.length > 0) return { ok: false, errors: sortErrors(ctx.errors), warnings: ctx.warnings };

  const files = new Map<string, Buffer | string>();
  const extraResources: string[] = [];
  if (options.namespace) {
    const ns = new Namespace({ metadata: { name: options.namespace } });
    ns.validate();
    const file = objectFileName({ kind: 'Namespace', name: options.namespace });
    files.set(file, toYaml(ns.toJSON()));
    extraResources.push(file);
  }
  for (const o of ctx.objects) files.set(objectFileName(o), toYaml(o.model.toJSON()));
  for (const f of ctx.files.values()) files.set(f.path, f.content);
  const issuerReadsSecret = ctx.objects.some((o) => o.model instanceof Issuer && o.model.spec?.acme?.externalAccountBinding !== undefined);
  files.set('kustomization.yaml', kustomization({ objects: ctx.objects, extraResources, namespace: options.namespace, secrets: ctx.secrets, configMaps: ctx.configMaps, issuerReadsSecret, source }));
  if (issuerReadsSecret) files.set(KUSTOMIZE_CONFIG_FILE, kustomizeConfig());
  if (!ctx.secrets.empty) {
    files.set('secrets.env.example', secretsExample(ctx.secrets));
    files.set('.gitignore', `${SECRETS_ENV_FILE}\n${SECRET_FILES_DIR}/\n`);
  }
  const backupsToS3 = state.list('Backup').some((b) => b.spec.destination !== undefined && 's3' in b.spec.destination);
  files.set('README.md', exportReadme({ source, objects: ctx.objects, warnings: ctx.warnings, alarms, secrets: ctx.secrets, agentImage: options.agentImage, backupsToS3 }));
  return { ok: true, export: { files, objects: ctx.objects, warnings: ctx.warnings } };
}
