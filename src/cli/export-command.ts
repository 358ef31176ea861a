import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { exportKubernetes, type ExportWarning } from '../export/kubernetes/export.js';
import { writeExport } from '../export/kubernetes/write.js';
import { loadManifests } from '../manifests/load.js';
import { StaticSecrets } from '../manifests/secrets.js';
import { formatManifestError } from '../manifests/source.js';

export interface ExportKubernetesFlags {
  out: string;
  namespace?: string;
  storageClass?: string;
  ingress?: boolean;
  ingressClass?: string;
  allowHostPath?: boolean;
  agentImage: string;
  stackOutputs?: string;
  force?: boolean;
}

/**
 * `export kubernetes DIR --out OUT`: loads the folder offline (no secret, secret file or build
 * context needs to exist here), translates it, and writes the kustomize base. Exit 0 when
 * everything translated or is listed as a warning, 1 on any error (then nothing is written).
 */
export async function exportKubernetesCommand(dir: string, flags: ExportKubernetesFlags, stdout: Writable, stderr: Writable): Promise<number> {
  const out = resolve(flags.out);
  const inside = relative(resolve(dir), out);
  if (inside === '' || (!inside.startsWith('..') && !isAbsolute(inside)))
    throw new Error(`--out ${flags.out} is inside the manifests folder ${dir}: the agent would read the exported YAML as manifests`);
  const outputs = flags.stackOutputs ? (JSON.parse(await readFile(flags.stackOutputs, 'utf8')) as Record<string, string>) : undefined;
  const load = await loadManifests(dir, {
    secrets: new StaticSecrets({}),
    offline: true,
    cfnOutputs: async () => (outputs ? { ok: true, outputs } : { ok: false, reason: 'pass --stack-outputs FILE to export manifests that use ${cfn:...}' }),
  });
  if (!load.ok) {
    for (const e of load.errors) stderr.write(formatManifestError(e) + '\n');
    stderr.write(`${load.errors.length} error(s); nothing written\n`);
    return 1;
  }
  const result = exportKubernetes(load.state, dir, {
    namespace: flags.namespace,
    storageClass: flags.storageClass,
    ingress: flags.ingress === true,
    ingressClass: flags.ingressClass,
    allowHostPath: flags.allowHostPath === true,
    agentImage: flags.agentImage,
  }, dir);
  if (!result.ok) {
    for (const e of result.errors) stderr.write(formatManifestError(e) + '\n');
    stderr.write(`${result.errors.length} error(s); nothing written\n`);
    return 1;
  }
  await writeExport(out, result.export.files, flags.force === true);
  stderr.write(formatWarnings(result.export.warnings, flags.out));
  stdout.write(`wrote ${result.export.objects.length} object(s) in ${result.export.files.size} file(s) to ${flags.out}; see ${flags.out}/README.md\n`);
  return 0;
}

export function formatWarnings(warnings: readonly ExportWarning[], out: string): string {
  if (warnings.length === 0) return '';
  const lines = [`${warnings.length} thing(s) did not translate exactly (also listed in ${out}/README.md):`];
  for (const w of warnings) lines.push(`  ${w.resource} (${w.file}): ${w.message}`);
  return lines.join('\n') + '\n';
}
