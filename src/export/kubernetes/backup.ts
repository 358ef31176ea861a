import { basename } from 'node:path';
import { CronJob } from 'kubernetes-models/batch/v1';
import { PersistentVolumeClaim, ServiceAccount, type IContainer, type IEnvVar, type IVolumeMount } from 'kubernetes-models/v1';
import { stringify } from 'yaml';
import type { BackupSource, BackupSpec } from '../../manifests/kinds/backup.js';
import type { ValueOrSecret } from '../../manifests/kinds/common.js';
import { API_VERSION } from '../../manifests/load.js';
import type { Resource } from '../../manifests/resource.js';
import type { FieldPath } from '../../manifests/source.js';
import type { ExportContext } from './context.js';
import { hostVolume } from './host-files.js';
import { cronJobSpec, jobPodSpec } from './job.js';
import { NAME_LABEL } from './labels.js';
import { kubeName } from './names.js';
import { PodVolumes } from './pod.js';
import { SECRET_NAME } from './secret-keys.js';
import { containerPorts } from './service.js';
import { exactDuration, quantity } from './units.js';
import { DEFAULT_VOLUME_BYTES } from './volume.js';

/** Where the Backup's own manifest is mounted in its pod (`backup run NAME --standalone -m` reads it). */
export const STANDALONE_MANIFESTS = '/etc/certitrack-agent/manifests';
const STATE_DIR = '/var/lib/certitrack-agent';
const SECRET_FILES = '/etc/certitrack-agent/secrets';
const LOCAL_BACKUPS = '/backups';
/** Where the pod's sources are mounted (volumes, host paths). */
const POD_SOURCES = '/backup';
/** The host policy of the standalone run, outside its manifests folder (a ConfigMap of its own). */
const POLICY_DIR = '/etc/certitrack-agent/policy';
const POLICY_FILE = `${POLICY_DIR}/policy.yaml`;
/** The service account Backup pods run as: annotate it with an IAM role (IRSA, EKS Pod Identity) for S3. */
export const BACKUP_SERVICE_ACCOUNT = 'certitrack-backup';
const POSTGRES_PORT = 5432;
/** A missed slot is no worse after a failed attempt: the Job retries with the kubelet's backoff, as the agent retries. */
const BACKUP_RETRIES = 6;

/** What one source becomes inside the pod: the source for the standalone run, and how the pod reaches it. */
interface PodSource {
  source: Record<string, unknown>;
}

/**
 * A Backup becomes a CronJob of the agent's own image running `backup run NAME --standalone`
 * against a copy of the Backup's manifest (a ConfigMap), rewritten for the pod: PostgreSQL over
 * the network to the database's Kubernetes Service, volumes and host paths mounted into the pod.
 * The S3 destination and the retention are unchanged. EBS snapshots do not translate.
 */
export function exportBackups(ctx: ExportContext): void {
  for (const backup of ctx.state.list('Backup')) {
    if (backup.spec.sources.some((s) => 'ebsSnapshot' in s)) {
      ctx.warn(backup, 'EBS snapshots of the host are not exported: snapshot the PersistentVolumeClaims instead (CSI VolumeSnapshots, or AWS Backup for EBS volumes)');
      continue;
    }
    exportBackup(ctx, backup);
  }
}

function exportBackup(ctx: ExportContext, backup: Resource<BackupSpec>): void {
  const name = ctx.claim('CronJob', `backup-${kubeName(backup.name)}`, backup);
  const manifestMap = name === undefined ? undefined : ctx.claim('ConfigMap', `${name}-manifest`, backup);
  const policyMap = manifestMap === undefined ? undefined : ctx.claim('ConfigMap', `${name}-policy`, backup);
  if (name === undefined || manifestMap === undefined || policyMap === undefined) return;
  const pod = new PodVolumes();
  const mounts: IVolumeMount[] = [];
  // pg_dump runs in the pod itself (the agent's image carries the client tools): no Docker there.
  const env: IEnvVar[] = [
    { name: 'CERTITRACK_STATE_DIR', value: STATE_DIR },
    { name: 'CERTITRACK_POSTGRES_CLIENT', value: 'local' },
  ];
  const secretEnv: string[] = [];
  const secretValue = (path: FieldPath, value: ValueOrSecret): ValueOrSecret | undefined => {
    if (typeof value === 'string') return value;
    const key = ctx.secrets.keyOf(backup, path, value);
    if (key === undefined) return undefined;
    if ('secretRef' in value) {
      env.push({ name: key, valueFrom: { secretKeyRef: { name: SECRET_NAME, key } } });
      secretEnv.push(key);
      return value;
    }
    mounts.push({ name: pod.add({ name: 'secret-files', secret: { secretName: SECRET_NAME } }), mountPath: `${SECRET_FILES}/${key}`, subPath: key, readOnly: true });
    return { file: `${SECRET_FILES}/${key}` };
  };

  const sources: Record<string, unknown>[] = [];
  backup.spec.sources.forEach((s, i) => {
    const translated = podSource(ctx, backup, s, i, pod, mounts, secretValue);
    if (translated) sources.push(translated.source);
  });
  if (sources.length !== backup.spec.sources.length) return;

  const destination = podDestination(ctx, backup, name, pod, mounts);
  if (!destination) return;
  const spec = backup.spec;
  const retention = { ...spec.retention, ...(spec.retention.keepWithin !== undefined ? { keepWithin: exactDuration(spec.retention.keepWithin) } : {}) };
  const manifest = {
    apiVersion: API_VERSION,
    kind: 'Backup',
    metadata: { name: backup.name },
    spec: { ...(spec.schedule ? { schedule: spec.schedule } : {}), timeZone: spec.timeZone, timeout: exactDuration(spec.timeout), sources, destination, retention, compression: spec.compression },
  };
  const header = `# Backup "${backup.name}" as the CronJob ${name} runs it (certitrack-agent backup run ${backup.name} --standalone);\n# made by certitrack-agent export kubernetes from ${backup.source.file}. Paths are the pod's.\n`;
  ctx.addConfigMapFile(manifestMap, 'backup.yaml', `backups/${kubeName(backup.name)}.yaml`, Buffer.from(header + stringify(manifest)));
  mounts.push({ name: pod.add({ name: 'manifest', configMap: { name: manifestMap } }), mountPath: STANDALONE_MANIFESTS, readOnly: true });
  const policy = podPolicy(mounts, destination, secretEnv);
  ctx.addConfigMapFile(policyMap, 'policy.yaml', `backups/${kubeName(backup.name)}-policy.yaml`, Buffer.from(`# What the standalone run of Backup "${backup.name}" may read and write in its pod.\n${stringify(policy)}`));
  mounts.push({ name: pod.add({ name: 'policy', configMap: { name: policyMap } }), mountPath: POLICY_DIR, readOnly: true });
  mounts.push({ name: pod.add({ name: 'state', emptyDir: {} }), mountPath: STATE_DIR });

  ensureServiceAccount(ctx, backup);
  const container: IContainer = {
    name: 'backup',
    image: ctx.options.agentImage,
    imagePullPolicy: 'IfNotPresent',
    args: ['backup', 'run', backup.name, '--standalone', '-m', STANDALONE_MANIFESTS, '--policy', POLICY_FILE],
    env,
    volumeMounts: mounts,
  };
  if (!spec.schedule)
    ctx.warn(backup, `has no schedule: its CronJob is suspended; run it with kubectl create job --from=cronjob/${name} ${name}-manual`);
  // A CronJob needs a schedule; a manual-only Backup gets a placeholder it never reaches (suspended).
  const timing = spec.schedule ? { ...spec, schedule: spec.schedule } : { ...spec, schedule: '@yearly', suspend: true };
  ctx.add(
    backup,
    new CronJob({
      metadata: { name },
      spec: cronJobSpec(timing, {
        backoffLimit: BACKUP_RETRIES,
        podLabels: { [NAME_LABEL]: name },
        pod: { ...jobPodSpec(ctx, [container], pod), serviceAccountName: BACKUP_SERVICE_ACCOUNT },
      }),
    }),
  );
}

function podSource(
  ctx: ExportContext,
  backup: Resource<BackupSpec>,
  s: BackupSource,
  i: number,
  pod: PodVolumes,
  mounts: IVolumeMount[],
  secretValue: (path: FieldPath, value: ValueOrSecret) => ValueOrSecret | undefined,
): PodSource | undefined {
  const path: FieldPath = ['spec', 'sources', i];
  if ('postgres' in s && s.postgres.host !== undefined) {
    // Over the network already (RDS): the pod reaches it as the host did; image and network are the host's.
    const pg = s.postgres;
    const password = pg.password === undefined ? undefined : secretValue([...path, 'postgres', 'password'], pg.password);
    const { host, port, database, user, sslmode, compressLevel } = pg;
    return { source: { postgres: { host, port, database, user, ...(password !== undefined ? { password } : {}), ...(sslmode ? { sslmode } : {}), compressLevel } } };
  }
  if ('postgres' in s) {
    const pg = s.postgres;
    const svc = pg.service === undefined ? undefined : ctx.state.get('Service', pg.service);
    const ports = svc ? containerPorts(svc.spec).map((p) => p.port) : [];
    const port = ports.includes(POSTGRES_PORT) || ports.length !== 1 ? POSTGRES_PORT : (ports[0] as number);
    // pg_dump now connects over the network, so it needs the password the database container was given.
    const given = pg.password ?? svc?.spec.env.POSTGRES_PASSWORD;
    if (given === undefined) ctx.warn(backup, `postgres source ${i}: no password (neither postgres.password nor the service's POSTGRES_PASSWORD): pg_dump over the network needs one`);
    const password = given === undefined ? undefined : secretValue([...path, 'postgres', 'password'], given);
    return {
      source: {
        postgres: { host: kubeName(pg.service as string), port, database: pg.database, user: pg.user, ...(password !== undefined ? { password } : {}), compressLevel: pg.compressLevel },
      },
    };
  }
  if ('volume' in s) {
    const claimName = kubeName(s.volume.name);
    const mountPath = `${POD_SOURCES}/volumes/${claimName}`;
    mounts.push({ name: pod.add({ name: claimName, persistentVolumeClaim: { claimName, readOnly: true } }), mountPath, readOnly: true });
    return { source: { directory: { path: mountPath } } };
  }
  if ('directory' in s || 'file' in s) {
    const written = 'directory' in s ? s.directory.path : s.file.path;
    const host = hostVolume(ctx, backup, [...path, 'directory' in s ? 'directory' : 'file', 'path'], written);
    if (!host) return undefined;
    const mountPath = 'file' in s ? `${POD_SOURCES}/sources/${i}/${basename(written)}` : `${POD_SOURCES}/sources/${i}`;
    mounts.push({ name: pod.add(host.volume), mountPath, ...(host.subPath ? { subPath: host.subPath } : {}), readOnly: true });
    return { source: 'directory' in s ? { directory: { path: mountPath, exclude: s.directory.exclude } } : { file: { path: mountPath } } };
  }
  return undefined;
}

/** S3 stays as it is; a local destination (or none: the agent's state dir) becomes a claim of its own. */
function podDestination(ctx: ExportContext, backup: Resource<BackupSpec>, name: string, pod: PodVolumes, mounts: IVolumeMount[]): Record<string, unknown> | undefined {
  const dest = backup.spec.destination;
  if (dest && 's3' in dest) return { s3: dest.s3 };
  const claimName = ctx.claim('PersistentVolumeClaim', name, backup, dest ? ['spec', 'destination'] : ['metadata', 'name']);
  if (claimName === undefined) return undefined;
  ctx.add(
    backup,
    new PersistentVolumeClaim({
      metadata: { name: claimName },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: quantity(DEFAULT_VOLUME_BYTES) } },
        ...(ctx.options.storageClass ? { storageClassName: ctx.options.storageClass } : {}),
      },
    }),
  );
  mounts.push({ name: pod.add({ name: claimName, persistentVolumeClaim: { claimName } }), mountPath: LOCAL_BACKUPS });
  ctx.warn(backup, `backups are kept in PersistentVolumeClaim ${claimName}, inside the cluster: set destination.s3 to keep them off it`);
  return { local: { path: LOCAL_BACKUPS } };
}

/**
 * The host policy the pod's run validates its manifest against: the pod's own mount points as
 * allowed roots (sources, secret files, a local destination, as mounted so far), the Secret keys it reads from its
 * environment, and a plain-http S3 endpoint if the manifest names one (the host allowed it too).
 */
function podPolicy(mounts: readonly IVolumeMount[], destination: Record<string, unknown>, secretEnv: string[]): Record<string, unknown> {
  const roots = [POD_SOURCES, SECRET_FILES, LOCAL_BACKUPS].filter((root) => mounts.some((m) => m.mountPath === root || m.mountPath.startsWith(`${root}/`)));
  const endpoint = 's3' in destination ? (destination.s3 as { endpoint?: string }).endpoint : undefined;
  return {
    allowedRoots: roots,
    ...(secretEnv.length ? { secretEnv: [...new Set(secretEnv)].sort() } : {}),
    ...(endpoint?.startsWith('http://') ? { allowedEndpoints: [new URL(endpoint).origin] } : {}),
  };
}

function ensureServiceAccount(ctx: ExportContext, backup: Resource): void {
  const name = ctx.claimShared('ServiceAccount', BACKUP_SERVICE_ACCOUNT, { resource: backup, path: ['metadata', 'name'], identity: 'backup-service-account' });
  if (name === undefined || ctx.objects.some((o) => o.kind === 'ServiceAccount' && o.name === name)) return;
  ctx.add(backup, new ServiceAccount({ metadata: { name }, automountServiceAccountToken: false }));
}
