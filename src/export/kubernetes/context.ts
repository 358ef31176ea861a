import type { Model } from '@kubernetes-models/base';
import type { DesiredState } from '../../manifests/desired-state.js';
import type { Resource } from '../../manifests/resource.js';
import { errorAt, type FieldPath, type ManifestError } from '../../manifests/source.js';
import { ObjectNames, type NameOwner } from './names.js';
import { SecretKeys } from './secret-keys.js';

export interface KubernetesExportOptions {
  /** Set on every object by kustomize (`namespace:`), and a Namespace object is written. */
  namespace?: string | undefined;
  /** storageClassName of every PersistentVolumeClaim; unset = the cluster's default class. */
  storageClass?: string | undefined;
  /** Publish ports through an Ingress instead of a Service of type LoadBalancer. */
  ingress: boolean;
  /** ingressClassName of the Ingress and of cert-manager's http-01 solver; unset = the cluster's default. */
  ingressClass?: string | undefined;
  /** Bind mounts of host paths outside the manifests folder become hostPath volumes instead of errors. */
  allowHostPath: boolean;
  /** The agent's own image, which runs Backups as CronJobs. */
  agentImage: string;
}

/** Something that did not translate exactly; the export still succeeds, and says so. */
export interface ExportWarning {
  /** Kind/name of the manifest it is about. */
  resource: string;
  file: string;
  message: string;
}

/** One Kubernetes object, checked against its schema, and the manifest it came from. */
export interface ExportedObject {
  kind: string;
  name: string;
  model: Model<unknown>;
  from: string;
}

/** A file copied into the export (a bind-mounted config file), or written by it (a Backup's own manifest). */
export interface ExportedFile {
  /** Path inside the output folder. */
  path: string;
  content: Buffer | string;
}

/**
 * What the translators share while one export runs: the loaded manifests, the options, the names
 * handed out, the Secret keys and generated files, and every error and warning. Translators add
 * objects; nothing is written until the whole export has succeeded.
 */
export class ExportContext {
  readonly errors: ManifestError[] = [];
  readonly warnings: ExportWarning[] = [];
  readonly objects: ExportedObject[] = [];
  readonly files = new Map<string, ExportedFile>();
  /** configMapGenerator entries: ConfigMap name → file key → path inside the output folder. */
  readonly configMaps = new Map<string, Map<string, string>>();
  readonly names = new ObjectNames((owner, message) => this.error(owner.resource, owner.path, message));
  readonly secrets = new SecretKeys((resource, path, message) => this.error(resource, path, message));

  constructor(
    readonly state: DesiredState,
    /** The manifests folder, absolute: bind mounts inside it become ConfigMaps. */
    readonly root: string,
    readonly options: KubernetesExportOptions,
  ) {}

  private readonly said = new Set<string>();

  /** Reported once, however many objects run into it (a Service's mount and the exec job that shares it). */
  error(resource: Resource, path: FieldPath, message: string): void {
    const e = errorAt(resource.source, path, message);
    if (this.once(JSON.stringify(e))) this.errors.push(e);
  }

  warn(resource: Resource, message: string): void {
    const w = { resource: `${resource.kind}/${resource.name}`, file: resource.source.file, message };
    if (this.once(JSON.stringify(w))) this.warnings.push(w);
  }

  private once(key: string): boolean {
    if (this.said.has(key)) return false;
    this.said.add(key);
    return true;
  }

  /** Claims a name made from a resource's own name (identity: the resource). */
  claim(kind: string, name: string, resource: Resource, path: FieldPath = ['metadata', 'name']): string | undefined {
    return this.names.claim(kind, name, { resource, path, identity: `${resource.kind}/${resource.name}` });
  }

  claimShared(kind: string, name: string, owner: NameOwner): string | undefined {
    return this.names.claim(kind, name, owner);
  }

  /** Adds an object after checking it against the Kubernetes (or cert-manager) schema. */
  add(from: Resource, model: Model<unknown> & { kind: string; metadata?: { name?: string } }): void {
    const name = model.metadata?.name ?? '';
    try {
      model.validate();
    } catch (err) {
      // The translators build objects from validated manifests; a schema failure is a bug here.
      throw new Error(`internal error: the ${model.kind} "${name}" made from ${from.kind} "${from.name}" does not match its schema: ${(err as Error).message}`);
    }
    this.objects.push({ kind: model.kind, name, model, from: `${from.kind}/${from.name}` });
  }

  addFile(path: string, content: Buffer | string): void {
    this.files.set(path, { path, content });
  }

  addConfigMapFile(configMap: string, key: string, path: string, content: Buffer): void {
    let entries = this.configMaps.get(configMap);
    if (!entries) this.configMaps.set(configMap, (entries = new Map()));
    entries.set(key, path);
    this.addFile(path, content);
  }
}
