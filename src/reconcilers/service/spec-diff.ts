import type { FieldChange } from '../../engine/reconcile.js';
import { canonicalJson } from '../../util/hash.js';
import { SECRET_DIGEST_PREFIX } from './container-spec.js';

/**
 * Where each part of Docker's create options comes from in a Service manifest, so that a plan
 * names the field the user wrote (`spec.env.MODE`), not Docker's (`Env`). Longest prefix wins.
 */
const SPEC_PATHS: readonly [dockerPath: string, specPath: string][] = [
  ['create.Image', 'spec.image'],
  ['imageId', 'spec.image (image id)'],
  ['create.Env', 'spec.env'],
  ['create.Cmd', 'spec.command'],
  ['create.Entrypoint', 'spec.entrypoint'],
  ['create.WorkingDir', 'spec.workingDir'],
  ['create.User', 'spec.user'],
  ['create.Labels', 'spec.labels'],
  ['create.ExposedPorts', 'spec.ports'],
  ['create.HostConfig.PortBindings', 'spec.ports'],
  ['create.HostConfig.Mounts', 'spec.volumes'],
  ['create.Healthcheck', 'spec.healthcheck'],
  ['create.StopTimeout', 'spec.stopGracePeriod'],
  ['create.StopSignal', 'spec.stopSignal'],
  ['create.HostConfig.Init', 'spec.init'],
  ['create.HostConfig.Memory', 'spec.resources.memory'],
  ['create.HostConfig.NanoCpus', 'spec.resources.cpus'],
  ['create.HostConfig.LogConfig', 'spec.logging'],
  ['create.HostConfig.NetworkMode', 'spec.networks'],
  ['create.NetworkingConfig', 'spec.networks'],
  ['extraNetworks', 'spec.networks'],
  ['mountedContent', 'spec.volumes'],
  ['mountedInodes', 'spec.volumes'],
];

/** Keyed maps whose keys are the user's own names (env vars, labels, mount sources): the key stays in the path. */
const KEYED: Readonly<Record<string, (specPath: string, key: string) => string>> = {
  'create.Env': (p, k) => `${p}.${k}`,
  'create.Labels': (p, k) => `${p}.${k}`,
  mountedContent: (p, k) => `${p}[${k}] (content)`,
  mountedInodes: (p, k) => `${p}[${k}] (file replaced on disk)`,
};

/**
 * The fields that differ between the spec a container was created from and the one now declared,
 * as manifest paths with JSON values. Secrets show only that they changed. A container created
 * before specs were recorded on containers yields one change without values.
 */
export function specChanges(from: Readonly<Record<string, unknown>> | undefined, to: Readonly<Record<string, unknown>>): FieldChange[] {
  if (!from) return [{ path: 'spec', from: '(not recorded on the running container)', to: '(as declared)' }];
  const byPath = new Map<string, FieldChange>();
  for (const [dockerPath, [a, b]] of leafDifferences(from, to, '')) {
    const mapping = [...SPEC_PATHS].filter(([p]) => dockerPath === p || dockerPath.startsWith(`${p}.`)).sort((x, y) => y[0].length - x[0].length)[0];
    if (!mapping) continue;
    const [prefix, specPath] = mapping;
    const keyed = KEYED[prefix];
    if (keyed) {
      // Their values are scalars, so the rest of the path is the key itself (dots included).
      const path = keyed(specPath, dockerPath.slice(prefix.length + 1));
      const secret = isSecretDigest(a) || isSecretDigest(b);
      byPath.set(path, secret ? { path, secret: true } : { path, ...shown('from', a), ...shown('to', b) });
      continue;
    }
    // Several Docker fields feed one spec field (ports, networks): show the spec field once, whole.
    if (byPath.has(specPath)) continue;
    byPath.set(specPath, { path: specPath, ...shown('from', valueAt(from, prefix)), ...shown('to', valueAt(to, prefix)) });
  }
  return [...byPath.values()].sort((x, y) => (x.path < y.path ? -1 : 1));
}

const isSecretDigest = (v: unknown): boolean => typeof v === 'string' && v.startsWith(SECRET_DIGEST_PREFIX);

function shown(side: 'from' | 'to', v: unknown): Partial<Record<'from' | 'to', string>> {
  return v === undefined ? {} : { [side]: canonicalJson(v) };
}

function valueAt(root: unknown, dotted: string): unknown {
  let v = root;
  for (const seg of dotted.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

/** Every leaf path where the two values differ, with both sides (arrays compared whole). */
function leafDifferences(a: unknown, b: unknown, path: string): [string, [unknown, unknown]][] {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => leafDifferences(a[k], b[k], path ? `${path}.${k}` : k));
  }
  if (isObject(a) && b === undefined) return leafDifferences(a, {}, path);
  if (a === undefined && isObject(b)) return leafDifferences({}, b, path);
  return canonicalJson(a ?? null) === canonicalJson(b ?? null) ? [] : [[path, [a, b]]];
}
