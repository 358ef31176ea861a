import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Model } from '@kubernetes-models/base';
import { Certificate, Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { loadManifests } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { exportKubernetes, type KubernetesExportOptions } from '../../src/export/kubernetes/export.js';

interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  new (data: never): Model<unknown>;
}

/** The official schemas, by apiVersion/kind, of every kind an export may contain. */
const MODELS = new Map(
  ([Deployment, StatefulSet, CronJob, Ingress, NetworkPolicy, ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount, Certificate, Issuer] as ModelClass[]).map(
    (m) => [`${m.apiVersion}/${m.kind}`, m] as const,
  ),
);

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RFC1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Problems with one object: not a known kind, not valid against its schema, or a name Kubernetes
 * would refuse (the models do not check names).
 */
export function objectProblems(obj: KubeObject): string[] {
  const id = `${obj.kind}/${obj.metadata?.name}`;
  const model = MODELS.get(`${obj.apiVersion}/${obj.kind}`);
  if (!model) return [`${id}: unexpected kind ${obj.apiVersion} ${obj.kind}`];
  const problems: string[] = [];
  try {
    new model(obj as never).validate();
  } catch (err) {
    problems.push(`${id}: ${(err as Error).message}`);
  }
  const name = obj.metadata.name;
  const label = ['Service', 'Namespace', 'Deployment', 'StatefulSet', 'CronJob'].includes(obj.kind);
  if (label ? !RFC1123_LABEL.test(name) || name.length > 63 : !RFC1123_SUBDOMAIN.test(name) || name.length > 253) problems.push(`${id}: invalid name`);
  if (obj.kind === 'Service' && !/^[a-z]/.test(name)) problems.push(`${id}: a Service name must start with a letter`);
  if (obj.kind === 'CronJob' && name.length > 52) problems.push(`${id}: CronJob name longer than 52`);
  return problems;
}

/** The objects an export folder lists in its kustomization.yaml, parsed. */
export async function exportedObjects(out: string): Promise<KubeObject[]> {
  const kustomization = parse(await readFile(join(out, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  return Promise.all(kustomization.resources.map(async (f) => parse(await readFile(join(out, f), 'utf8')) as KubeObject));
}

export const parseRendered = (text: string): KubeObject[] => parseAllDocuments(text).map((d) => d.toJS() as KubeObject);

export const find = (objects: KubeObject[], kind: string, name: string): KubeObject => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} among ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
};

/** Every file under a folder, as bytes, by relative path. */
export async function filesUnder(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else out.set(relative(dir, full), await readFile(full));
    }
  };
  await walk(dir);
  return out;
}

export const EXPORT_DEFAULTS: KubernetesExportOptions = { ingress: false, allowHostPath: false, agentImage: 'certitrack-agent:test' };

/** Loads a folder offline and exports it in memory, as the command does. */
export async function exportFolder(dir: string, options: Partial<KubernetesExportOptions> = {}, outputs?: Record<string, string>) {
  const load = await loadManifests(dir, {
    secrets: new StaticSecrets({}),
    offline: true,
    displayBase: dir,
    ...(outputs ? { cfnOutputs: async () => ({ ok: true as const, outputs }) } : {}),
  });
  if (!load.ok) throw new Error(`load failed: ${JSON.stringify(load.errors)}`);
  return exportKubernetes(load.state, dir, { ...EXPORT_DEFAULTS, ...options });
}

/** The objects of an in-memory export, parsed back from the YAML it would write. */
export function objectsOf(files: Map<string, Buffer | string>): KubeObject[] {
  const kustomization = parse(String(files.get('kustomization.yaml'))) as { resources: string[] };
  return kustomization.resources.map((f) => parse(String(files.get(f))) as KubeObject);
}
