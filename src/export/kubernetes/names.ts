import { createHash } from 'node:crypto';
import type { Resource } from '../../manifests/resource.js';
import type { FieldPath } from '../../manifests/source.js';

/** RFC 1123 label: what most Kubernetes object names must be (and every pod volume and container name). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1035 label: Service names must also start with a letter (they become DNS names and env var prefixes). */
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const MAX_NAME = 63;
/** The Job controller appends an 11-character suffix to a CronJob's name, and Job names are labels. */
const MAX_CRONJOB_NAME = 52;

/**
 * A manifest name as a Kubernetes name. Manifest names are lower-case letters, digits, "-" and "_";
 * only "_" is foreign to RFC 1123, so `postgres_data` becomes `postgres-data`. The mapping is the
 * same on every run, which keeps names (and the references to them) stable.
 */
export const kubeName = (name: string): string => name.replace(/_/g, '-');

/** Any text (a path, an alias) as an RFC 1123 label, shortened with a hash when too long. */
export function labelFrom(text: string): string {
  const cleaned = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (cleaned.length > 0 && cleaned.length <= MAX_NAME) return cleaned;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 8);
  return `${cleaned.slice(0, MAX_NAME - hash.length - 1).replace(/-+$/, '')}-${hash}`.replace(/^-/, '');
}

/** Label keys and annotation keys: an optional DNS subdomain prefix, then a name of at most 63 characters. */
export function isQualifiedName(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !prefix.split('.').every((p) => DNS_LABEL.test(p)))) return false;
  return name.length <= MAX_NAME && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name);
}

export const isLabelValue = (value: string): boolean => value === '' || (value.length <= MAX_NAME && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(value));

/** Where a name came from: the manifest (and field) an error about it points at. */
export interface NameOwner {
  resource: Resource;
  path: FieldPath;
  /** Two claims of one name with the same identity are the same object (e.g. one file mounted by two services). */
  identity: string;
}

export type NameProblem = (owner: NameOwner, message: string) => void;

/**
 * Every Kubernetes object name the export hands out, per kind. A name that is not valid for its
 * kind, or that two manifests would both produce, is an error at the manifest field it came from.
 */
export class ObjectNames {
  private readonly taken = new Map<string, NameOwner>();

  constructor(private readonly problem: NameProblem) {}

  /** The name, or undefined when it was refused (the problem is reported). */
  claim(kind: string, name: string, owner: NameOwner): string | undefined {
    const invalid = whyInvalid(kind, name);
    if (invalid) {
      this.problem(owner, `Kubernetes ${kind} name "${name}" ${invalid}`);
      return undefined;
    }
    const key = `${kind}/${name}`;
    const first = this.taken.get(key);
    if (first && first.identity !== owner.identity) {
      const where = `${first.resource.source.file}:${first.resource.source.positionOf(first.path).line}`;
      this.problem(owner, `Kubernetes ${kind} "${name}" would also be made from ${first.resource.kind} "${first.resource.name}" (${where}); rename one of them`);
      return undefined;
    }
    if (!first) this.taken.set(key, owner);
    return name;
  }
}

function whyInvalid(kind: string, name: string): string | undefined {
  const max = kind === 'CronJob' ? MAX_CRONJOB_NAME : MAX_NAME;
  if (name.length > max) return `is ${name.length} characters long; at most ${max} are allowed${kind === 'CronJob' ? ' (Job names add 11)' : ''}`;
  if (kind === 'Service' && !DNS_1035_LABEL.test(name)) return 'must start with a letter and contain only lower-case letters, digits and "-" (RFC 1035)';
  if (!DNS_LABEL.test(name)) return 'must contain only lower-case letters, digits and "-", starting and ending with a letter or digit (RFC 1123)';
  return undefined;
}
