import { stringify } from 'yaml';
import type { ExportedObject } from './context.js';
import { SECRET_FILES_DIR, SECRET_NAME, SECRETS_ENV_FILE, type SecretKeys } from './secret-keys.js';

/** Kustomize's own configuration: which fields of cert-manager objects name the generated Secret. */
export const KUSTOMIZE_CONFIG_FILE = 'kustomizeconfig.yaml';

export const objectFileName = (o: Pick<ExportedObject, 'kind' | 'name'>): string => `${o.kind.toLowerCase()}-${o.name}.yaml`;

/** YAML 1.1 quoting (yes, on, y stay strings) so that old kustomize releases read the values back as written. */
export const toYaml = (value: unknown): string => stringify(value, { version: '1.1', lineWidth: 0 });

/**
 * kustomization.yaml: the objects, the one Secret (from secrets.env and secret-files/, which the
 * user supplies) and the ConfigMaps of copied files. Generated names get kustomize's content hash,
 * so a changed file or secret rolls the pods that use it. `env:` (not `envs:`) is what both
 * Debian's kubectl 1.20 and current kustomize read.
 */
export function kustomization(opts: {
  objects: readonly ExportedObject[];
  extraResources: readonly string[];
  namespace?: string | undefined;
  secrets: SecretKeys;
  configMaps: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** An Issuer reads the Secret (external account binding): kustomize must be told where, see kustomizeConfig. */
  issuerReadsSecret: boolean;
  source: string;
}): string {
  const fileKeys = opts.secrets.fileEntries();
  const envKeys = opts.secrets.envEntries();
  const doc = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
    resources: [...opts.extraResources, ...opts.objects.map(objectFileName)],
    ...(opts.secrets.empty
      ? {}
      : {
          secretGenerator: [
            {
              name: SECRET_NAME,
              ...(envKeys.length > 0 ? { env: SECRETS_ENV_FILE } : {}),
              ...(fileKeys.length > 0 ? { files: fileKeys.map((f) => `${f.key}=${SECRET_FILES_DIR}/${f.key}`) } : {}),
            },
          ],
        }),
    ...(opts.configMaps.size > 0
      ? { configMapGenerator: [...opts.configMaps].map(([name, files]) => ({ name, files: [...files].map(([key, path]) => `${key}=${path}`) })) }
      : {}),
    ...(opts.issuerReadsSecret ? { configurations: [KUSTOMIZE_CONFIG_FILE] } : {}),
  };
  return `# Made by certitrack-agent export kubernetes from ${opts.source}; render with kubectl kustomize, apply with kubectl apply -k.\n${toYaml(doc)}`;
}

/** Tells kustomize that an Issuer's external account binding names the generated Secret, so its hashed name is filled in. */
export const kustomizeConfig = (): string =>
  toYaml({
    nameReference: [{ kind: 'Secret', fieldSpecs: [{ kind: 'Issuer', group: 'cert-manager.io', path: 'spec/acme/externalAccountBinding/keySecretRef/name' }] }],
  });

/** secrets.env.example: every key, never a value. */
export function secretsExample(secrets: SecretKeys): string {
  const lines = ['# Copy to secrets.env (never commit it) and fill in; kustomize makes the Secret ' + SECRET_NAME + ' from it.'];
  for (const { key, users } of secrets.envEntries()) lines.push(`# used by ${users.join(', ')}`, `${key}=`);
  const files = secrets.fileEntries();
  if (files.length > 0) lines.push('#', `# And copy these files into ${SECRET_FILES_DIR}/:`);
  for (const f of files) lines.push(`#   ${f.hostPath} -> ${SECRET_FILES_DIR}/${f.key} (used by ${f.users.join(', ')})`);
  return lines.join('\n') + '\n';
}
