import type { KeptAlarm } from './alarm.js';
import type { ExportedObject, ExportWarning } from './context.js';
import { objectFileName } from './kustomization.js';
import { SECRET_FILES_DIR, SECRETS_ENV_FILE, type SecretKeys } from './secret-keys.js';

export interface ReadmeInput {
  source: string;
  objects: readonly ExportedObject[];
  warnings: readonly ExportWarning[];
  alarms: readonly KeptAlarm[];
  secrets: SecretKeys;
  agentImage: string;
  /** Some Backup uploads to S3, so its pods need AWS credentials. */
  backupsToS3: boolean;
}

/** OUT/README.md: how to apply the export, what each manifest became, and everything that did not translate. */
export function exportReadme(input: ReadmeInput): string {
  const out: string[] = [
    '# Kubernetes export',
    '',
    `Made by \`certitrack-agent export kubernetes\` from \`${input.source}\`. Regenerate it rather than editing it by hand;`,
    'put cluster-specific changes in a kustomize overlay that uses this folder as its base.',
    '',
    '## Before applying',
    '',
  ];
  const steps: string[] = [];
  if (!input.secrets.empty) {
    const files = input.secrets.fileEntries();
    steps.push(`Copy \`secrets.env.example\` to \`${SECRETS_ENV_FILE}\` and fill in every value${files.length > 0 ? `; copy the files listed there into \`${SECRET_FILES_DIR}/\`` : ''}. Never commit them (\`.gitignore\` lists them).`);
  }
  if (input.objects.some((o) => o.kind === 'Certificate')) steps.push('Install cert-manager in the cluster (its Certificate and Issuer kinds are used here).');
  if (input.objects.some((o) => o.kind === 'CronJob' && o.from.startsWith('Backup/')))
    steps.push(
      `Make the agent's image \`${input.agentImage}\` pullable by the cluster${input.backupsToS3 ? ', and give the service account `certitrack-backup` access to the backup bucket (IAM Roles for Service Accounts or EKS Pod Identity)' : ''}.`,
    );
  steps.push('Push every image the workloads name to a registry the cluster pulls from (see the warnings).');
  steps.push('Preview with `kubectl kustomize .`, then apply with `kubectl apply -k .`.');
  steps.forEach((s, i) => out.push(`${i + 1}. ${s}`));

  out.push('', '## What each manifest became', '', '| manifest | Kubernetes objects |', '| --- | --- |');
  const byManifest = new Map<string, ExportedObject[]>();
  for (const o of input.objects) byManifest.set(o.from, [...(byManifest.get(o.from) ?? []), o]);
  for (const [from, objects] of byManifest) out.push(`| ${from} | ${objects.map((o) => `${o.kind} \`${o.name}\` ([${objectFileName(o)}](${objectFileName(o)}))`).join(', ')} |`);

  out.push('', '## What did not translate exactly', '');
  if (input.warnings.length === 0) out.push('Nothing: every field has a Kubernetes equivalent.');
  for (const w of input.warnings) out.push(`- **${w.resource}** (${w.file}): ${w.message}`);
  out.push(
    '',
    'Always true after the move:',
    '',
    '- Log rotation (`logging.maxSize`, `logging.maxFile`) is the kubelet\'s (`containerLogMaxSize`, `containerLogMaxFiles` on the nodes).',
    '- Crash-loop backoff is the kubelet\'s (10 s doubling to 5 min), close to the agent\'s.',
    '- Pods get no Kubernetes service-link variables (`enableServiceLinks: false`) and no API token, as the containers had neither.',
  );

  out.push('', '## Alarms', '');
  if (input.alarms.length === 0) out.push('No Alarm manifests.');
  else {
    out.push(
      'Alarms are not exported: CloudWatch alarms do not depend on where containers run, and the ones the agent made stay in CloudWatch as they are.',
      'Keep their manifests where an agent reconciles them, or manage them with your other AWS resources. Alarms on the old',
      "host's metrics (AWS/EC2 for its instance id, the agent's CertiTrack/* metrics) need new metrics once it is gone.",
      '',
      '| Alarm | CloudWatch name | metric | manifest |',
      '| --- | --- | --- | --- |',
    );
    for (const a of input.alarms) out.push(`| ${a.name} | ${a.alarmName} | ${a.metric} | ${a.file} |`);
  }
  return out.join('\n') + '\n';
}
