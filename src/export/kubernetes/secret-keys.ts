import { basename, isAbsolute, resolve } from 'node:path';
import type { IEnvVarSource } from 'kubernetes-models/v1';
import type { Resource } from '../../manifests/resource.js';
import type { FieldPath } from '../../manifests/source.js';

/** The one Secret every `secretRef` points into, made by kustomize's secretGenerator. */
export const SECRET_NAME = 'certitrack-secrets';
/** KEY=VALUE lines the user supplies next to kustomization.yaml; the export writes only the keys (secrets.env.example). */
export const SECRETS_ENV_FILE = 'secrets.env';
/** Where the user puts the files that `{ file: PATH }` values read; the export never copies them. */
export const SECRET_FILES_DIR = 'secret-files';

export type SecretRefValue = { secretRef: string } | { file: string };

interface FileKey {
  hostPath: string;
  users: Set<string>;
}

/**
 * The keys of the Secret, collected from every reference. Values are never read: `secretRef: KEY`
 * becomes key KEY (filled from secrets.env), and `file: PATH` becomes a key named after the file,
 * which the user copies into secret-files/ (a file's content is as secret as an env value).
 */
export class SecretKeys {
  private readonly envKeys = new Map<string, Set<string>>();
  private readonly fileKeys = new Map<string, FileKey>();

  constructor(private readonly problem: (resource: Resource, path: FieldPath, message: string) => void) {}

  /** `valueFrom` for an env var, or undefined when the reference cannot become a key (reported). */
  ref(resource: Resource, path: FieldPath, value: SecretRefValue): IEnvVarSource | undefined {
    const key = this.keyOf(resource, path, value);
    return key === undefined ? undefined : { secretKeyRef: { name: SECRET_NAME, key } };
  }

  /** The Secret key a reference reads (registering it), or undefined when it clashes (reported). */
  keyOf(resource: Resource, path: FieldPath, value: SecretRefValue): string | undefined {
    const user = `${resource.kind}/${resource.name}`;
    if ('secretRef' in value) {
      const key = value.secretRef;
      if (this.fileKeys.has(key)) {
        this.problem(resource, path, `secret ${key} has the name of the Secret key made for file ${this.fileKeys.get(key)?.hostPath}; rename one of them`);
        return undefined;
      }
      let users = this.envKeys.get(key);
      if (!users) this.envKeys.set(key, (users = new Set()));
      users.add(user);
      return key;
    }
    const hostPath = isAbsolute(value.file) ? value.file : resolve(resource.source.dir, value.file);
    const key = basename(hostPath).replace(/[^-._a-zA-Z0-9]/g, '_');
    const known = this.fileKeys.get(key);
    if (this.envKeys.has(key) || (known && known.hostPath !== hostPath)) {
      this.problem(resource, path, `the Secret key "${key}" for file ${hostPath} is already used by ${known ? `file ${known.hostPath}` : `secret ${key}`}; rename the file`);
      return undefined;
    }
    if (known) known.users.add(user);
    else this.fileKeys.set(key, { hostPath, users: new Set([user]) });
    return key;
  }

  get empty(): boolean {
    return this.envKeys.size === 0 && this.fileKeys.size === 0;
  }

  /** Keys from secrets.env, sorted, each with the manifests that use it. */
  envEntries(): { key: string; users: string[] }[] {
    return [...this.envKeys].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, users]) => ({ key, users: [...users].sort() }));
  }

  /** Keys from files, sorted, each with the host file to copy into secret-files/. */
  fileEntries(): { key: string; hostPath: string; users: string[] }[] {
    return [...this.fileKeys].sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, f]) => ({ key, hostPath: f.hostPath, users: [...f.users].sort() }));
  }
}
