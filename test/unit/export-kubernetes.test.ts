import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadManifests } from '../../src/manifests/load.js';
import { EnvFileSecrets, StaticSecrets } from '../../src/manifests/secrets.js';
import { hostRules, loadHostPolicy } from '../../src/manifests/host-policy.js';
import { formatManifestError } from '../../src/manifests/source.js';
import { ROOT } from '../helpers/cli.js';
import { exportFolder, find, objectProblems, objectsOf, type KubeObject } from '../helpers/kubernetes.js';
import { doc, webService, writeManifest } from '../helpers/manifests.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'export-k8s-'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

let n = 0;
const folder = () => join(tmp, `case-${++n}`);

type Container = { name: string; image: string; command?: string[]; args?: string[]; env?: { name: string; value?: string; valueFrom?: unknown }[]; volumeMounts?: unknown[]; readinessProbe?: Record<string, unknown>; livenessProbe?: Record<string, unknown>; resources?: unknown; securityContext?: unknown; workingDir?: string };
type PodSpec = { containers: Container[]; volumes?: { name: string; [k: string]: unknown }[]; terminationGracePeriodSeconds?: number; affinity?: unknown; shareProcessNamespace?: boolean };
const podOf = (o: KubeObject): PodSpec => (o.spec as { template: { spec: PodSpec } }).template.spec;
const jobPodOf = (o: KubeObject): PodSpec => (o.spec as { jobTemplate: { spec: { template: { spec: PodSpec } } } }).jobTemplate.spec.template.spec;

async function exportOk(dir: string, options = {}) {
  const r = await exportFolder(dir, options);
  if (!r.ok) throw new Error(r.errors.map(formatManifestError).join('\n'));
  const objects = objectsOf(r.export.files);
  expect(objects.flatMap(objectProblems)).toEqual([]);
  return { ...r.export, objects };
}

describe('export kubernetes: the mapping, field by field', () => {
  it('examples/local: image, env, probes, volumes, schedule and time zone, dnsNames', async () => {
    const { objects, files } = await exportOk(join(ROOT, 'examples/local'));

    const backend = podOf(find(objects, 'Deployment', 'backend')).containers[0] as Container;
    expect(backend.image).toBe('certitrack-example/app:latest');
    expect(backend.env).toContainEqual({ name: 'GIN_MODE', value: 'release' });
    expect(backend.env).toContainEqual({ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'certitrack-secrets', key: 'DB_PASSWORD' } } });
    expect(backend.readinessProbe).toEqual({ httpGet: { port: 8080, path: '/api/v1/health' }, periodSeconds: 2, timeoutSeconds: 5, failureThreshold: 3 });
    expect(find(objects, 'Deployment', 'backend').spec?.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });

    // A named volume mounted read-write: a StatefulSet on the volume's claim.
    const postgres = find(objects, 'StatefulSet', 'postgres');
    const pgPod = podOf(postgres);
    expect(pgPod.terminationGracePeriodSeconds).toBe(30);
    expect(pgPod.volumes).toEqual([{ name: 'postgres-data', persistentVolumeClaim: { claimName: 'postgres-data' } }]);
    const pg = pgPod.containers[0] as Container;
    expect(pg.volumeMounts).toEqual([{ name: 'postgres-data', mountPath: '/var/lib/postgresql/data' }]);
    expect(pg.livenessProbe).toMatchObject({ exec: { command: ['pg_isready', '-h', '127.0.0.1', '-U', 'certitrack_user', '-d', 'certitrack'] }, initialDelaySeconds: 5, failureThreshold: 5 });
    expect(pg.readinessProbe).not.toHaveProperty('initialDelaySeconds');
    expect(pg.resources).toEqual({ requests: { memory: '512Mi' }, limits: { memory: '512Mi' } });
    expect(find(objects, 'Service', 'postgres').spec?.ports).toEqual([{ name: 'tcp-5432', port: 5432, targetPort: 5432, protocol: 'TCP' }]);
    // postgres_data → postgres-data everywhere it is named.
    expect(find(objects, 'PersistentVolumeClaim', 'postgres-data').spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } });

    // nginx: its config file (inside the folder) through a ConfigMap, the certificate's folder through cert-manager's Secret.
    const nginxPod = podOf(find(objects, 'Deployment', 'nginx'));
    expect((nginxPod.containers[0] as Container).volumeMounts).toEqual([
      { name: 'nginx-conf', mountPath: '/etc/nginx/nginx.conf', subPath: 'nginx.conf', readOnly: true },
      { name: 'certitrack-tls', mountPath: '/etc/nginx/ssl', readOnly: true },
    ]);
    expect(nginxPod.volumes).toContainEqual({ name: 'certitrack-tls', secret: { secretName: 'certitrack-tls', items: [{ key: 'tls.crt', path: 'cert.pem' }, { key: 'tls.key', path: 'key.pem' }] } });
    expect(String(files.get('files/nginx-conf/nginx.conf'))).toContain('upstream backend');

    const cert = find(objects, 'Certificate', 'certitrack');
    expect(cert.spec).toMatchObject({ secretName: 'certitrack-tls', dnsNames: ['certitrack.company.com', 'localhost'], issuerRef: { kind: 'Issuer', name: 'certitrack' }, privateKey: { algorithm: 'ECDSA', size: 256 }, duration: '2160h' });
    expect(find(objects, 'Issuer', 'certitrack').spec).toEqual({ selfSigned: {} });

    const cron = find(objects, 'CronJob', 'backup-nightly');
    expect(cron.spec).toMatchObject({ schedule: '0 2 * * *', timeZone: 'Europe/Madrid', concurrencyPolicy: 'Forbid', startingDeadlineSeconds: 43200 });
    const backup = jobPodOf(cron).containers[0] as Container;
    expect(backup.image).toBe('certitrack-agent:test');
    expect(backup.args).toEqual(['backup', 'run', 'nightly', '--standalone', '-m', '/etc/certitrack-agent/manifests', '--policy', '/etc/certitrack-agent/policy/policy.yaml']);
    const standalone = parse(String(files.get('backups/nightly.yaml'))) as { spec: { sources: unknown[]; retention: unknown } };
    expect(standalone.spec.sources[0]).toEqual({ postgres: { host: 'postgres', port: 5432, database: 'certitrack', user: 'certitrack_user', password: { secretRef: 'DB_PASSWORD' }, compressLevel: 1 } });
    expect(standalone.spec.retention).toEqual({ keepDaily: 7, keepWeekly: 4, keepMonthly: 12 });
    // The job mounts redis' ReadWriteOnce claim, so it must run on redis' node.
    expect(JSON.stringify(jobPodOf(cron).affinity)).toContain('"values":["redis"]');
  });

  it('manifests/: LoadBalancer for published ports, ACME Issuer, S3 destination unchanged, or an Ingress with --ingress', async () => {
    const outputs = { BackupBucketName: 'certitrack-backups-1', AlertTopicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts' };
    const r = await exportFolder(join(ROOT, 'manifests'), { allowHostPath: true, storageClass: 'gp3' }, outputs);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const objects = objectsOf(r.export.files);
    expect(objects.flatMap(objectProblems)).toEqual([]);
    expect(find(objects, 'Service', 'nginx-public').spec).toMatchObject({ type: 'LoadBalancer', ports: [{ port: 80, targetPort: 80 }, { port: 443, targetPort: 443 }] });
    expect(find(objects, 'PersistentVolumeClaim', 'redis-data').spec).toMatchObject({ storageClassName: 'gp3' });
    expect(find(objects, 'Issuer', 'certitrack').spec).toMatchObject({ acme: { server: 'https://acme-v02.api.letsencrypt.org/directory', email: 'admin@company.com', solvers: [{ http01: { ingress: {} } }] } });
    const redis = podOf(find(objects, 'StatefulSet', 'redis')).containers[0] as Container;
    expect(redis.args).toEqual(['/bin/sh', '-c', 'exec redis-server --appendonly yes --requirepass "$REDIS_PASSWORD"']);
    expect(String(r.export.files.get('backups/nightly.yaml'))).toContain('bucket: certitrack-backups-1');
    // Alarms stay in CloudWatch and are listed; the EBS snapshot Backup is not exported.
    const readme = String(r.export.files.get('README.md'));
    expect(readme).toContain('| high-cpu | certitrack-high-cpu | AWS/EC2/CPUUtilization |');
    expect(objects.some((o) => o.metadata.name.includes('weekly'))).toBe(false);
    expect(r.export.warnings.map((w) => w.resource)).toContain('Backup/weekly-snapshot');

    const viaIngress = await exportFolder(join(ROOT, 'manifests'), { allowHostPath: true, ingress: true, ingressClass: 'nginx' }, outputs);
    if (!viaIngress.ok) throw new Error('export failed');
    const ingressObjects = objectsOf(viaIngress.export.files);
    expect(ingressObjects.flatMap(objectProblems)).toEqual([]);
    expect(find(ingressObjects, 'Ingress', 'nginx').spec).toEqual({
      ingressClassName: 'nginx',
      rules: [{ host: 'certitrack.company.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'nginx', port: { number: 80 } } } }] } }],
      tls: [{ hosts: ['certitrack.company.com'], secretName: 'certitrack-tls' }],
    });
    expect(ingressObjects.some((o) => o.metadata.name === 'nginx-public')).toBe(false);
  });

  it('Schedules: a run job maps directly, an exec job runs the service image with its env, with a warning', async () => {
    const dir = folder();
    await writeManifest(dir, 'stack.yaml', [
      doc('Network', 'back', { internal: true }),
      doc('Volume', 'app_data', { size: '20Gi' }),
      doc('Volume', 'legacy', { external: true, name: 'old_project_legacy' }),
      doc('Service', 'api', webService({ env: { MODE: 'prod', TOKEN: { secretRef: 'API_TOKEN' } }, volumes: ['app_data:/data'], networks: ['back'], user: '1000:1000', init: true, resources: { cpus: 0.5, memory: '256Mi' } })),
      doc('Schedule', 'migrate', { schedule: '@daily', timeZone: 'America/New_York', concurrencyPolicy: 'Replace', startingDeadline: '30m', timeout: '10m', exec: { service: 'api', command: ['/app/migrate', '--check'], env: { MODE: 'check' } } }),
      doc('Schedule', 'report', { schedule: '*/15 * * * *', run: { image: 'reporter:1', command: 'run-report', env: { DB: { secretRef: 'DB_URL' } }, networks: ['back'] } }),
    ]);
    const { objects, warnings } = await exportOk(dir);
    expect(find(objects, 'PersistentVolumeClaim', 'app-data').spec).toMatchObject({ resources: { requests: { storage: '20Gi' } } });
    expect(warnings.find((w) => w.resource === 'Volume/legacy')?.message).toMatch(/^made outside the agent \(Docker volume old_project_legacy\): claim legacy is a new, empty volume/);
    const apiPod = podOf(find(objects, 'StatefulSet', 'api'));
    expect(apiPod.shareProcessNamespace).toBe(true);
    expect((apiPod.containers[0] as Container).securityContext).toEqual({ runAsUser: 1000, runAsGroup: 1000 });
    expect((apiPod.containers[0] as Container).resources).toEqual({ requests: { cpu: '500m', memory: '256Mi' }, limits: { cpu: '500m', memory: '256Mi' } });

    const migrate = find(objects, 'CronJob', 'migrate');
    expect(migrate.spec).toMatchObject({ schedule: '@daily', timeZone: 'America/New_York', concurrencyPolicy: 'Replace', startingDeadlineSeconds: 1800, jobTemplate: { spec: { activeDeadlineSeconds: 600, backoffLimit: 0 } } });
    const exec = jobPodOf(migrate).containers[0] as Container;
    expect(exec.image).toBe('certitrack-test/busybox:latest');
    expect(exec.command).toEqual(['/app/migrate', '--check']);
    expect(exec.args).toBeUndefined();
    expect(exec.env).toEqual([{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'certitrack-secrets', key: 'API_TOKEN' } } }, { name: 'MODE', value: 'check' }]);
    expect(warnings.find((w) => w.resource === 'Schedule/migrate')?.message).toMatch(/new pod of api's image/);

    const report = jobPodOf(find(objects, 'CronJob', 'report')).containers[0] as Container;
    expect(report).toMatchObject({ image: 'reporter:1', args: ['/bin/sh', '-c', 'run-report'], env: [{ name: 'DB', valueFrom: { secretKeyRef: { name: 'certitrack-secrets', key: 'DB_URL' } } }] });
    expect(report.command).toBeUndefined();

    // internal: true → a NetworkPolicy for the pods only on that network.
    const policy = find(objects, 'NetworkPolicy', 'back');
    expect(policy.spec).toMatchObject({ podSelector: { matchLabels: { 'network.certitrack.io/back': 'true', 'network.certitrack.io/isolated': 'true' } }, policyTypes: ['Egress'] });
    expect((find(objects, 'StatefulSet', 'api').spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels).toMatchObject({ 'network.certitrack.io/isolated': 'true' });
  });

  it('env { file } values become Secret keys from secret-files/, never the file\'s content', async () => {
    const dir = folder();
    await writeManifest(dir, 'svc.yaml', [doc('Service', 'api', webService({ env: { CERT: { file: './client.key' } } }))]);
    await writeFile(join(dir, 'client.key'), 'file-secret-content-123');
    const { files, objects } = await exportOk(dir);
    const env = (podOf(find(objects, 'Deployment', 'api')).containers[0] as Container).env;
    expect(env).toEqual([{ name: 'CERT', valueFrom: { secretKeyRef: { name: 'certitrack-secrets', key: 'client.key' } } }]);
    expect(String(files.get('kustomization.yaml'))).toContain('client.key=secret-files/client.key');
    expect(String(files.get('secrets.env.example'))).toContain(`${join(dir, 'client.key')} -> secret-files/client.key`);
    for (const content of files.values()) expect(String(content)).not.toContain('file-secret-content-123');
  });

  it('stable: the same folder exports byte for byte the same files', async () => {
    const a = await exportOk(join(ROOT, 'examples/local'));
    const b = await exportOk(join(ROOT, 'examples/local'));
    expect([...b.files.keys()]).toEqual([...a.files.keys()]);
    for (const [path, content] of a.files) expect(String(b.files.get(path)), path).toBe(String(content));
  });
});

describe('export kubernetes: bad input is an error naming the manifest file, line and field', () => {
  async function errorsOf(dir: string, options = {}) {
    const r = await exportFolder(dir, options);
    expect(r.ok).toBe(false);
    return r.ok ? [] : r.errors.map(formatManifestError);
  }

  it('a Service name that cannot be a Kubernetes Service name', async () => {
    const dir = folder();
    await writeManifest(dir, 'api.yaml', [doc('Service', '1api', webService())]);
    expect(await errorsOf(dir)).toEqual(['api.yaml:4:9: metadata.name: Kubernetes Service name "1api" must start with a letter and contain only lower-case letters, digits and "-" (RFC 1035)']);
  });

  it('two manifests whose names collide once made valid', async () => {
    const dir = folder();
    await writeManifest(dir, 'a.yaml', [doc('Volume', 'cache_data')]);
    await writeManifest(dir, 'b.yaml', [doc('Volume', 'cache-data')]);
    const [e] = await errorsOf(dir);
    expect(e).toMatch(/^b\.yaml:4:9: metadata\.name: Kubernetes PersistentVolumeClaim "cache-data" would also be made from Volume "cache_data" \(a\.yaml:4\)/);
  });

  it('a host path outside the folder, unless --allow-host-path', async () => {
    const dir = folder();
    await writeManifest(dir, 'svc.yaml', [doc('Service', 'api', webService({ volumes: ['/srv/data:/data'] }))]);
    const [e] = await errorsOf(dir);
    expect(e).toMatch(/^svc\.yaml:\d+:\d+: spec\.volumes\[0\]: host path \/srv\/data is outside the manifests folder.*--allow-host-path/);
    const ok = await exportOk(dir, { allowHostPath: true });
    expect(podOf(find(ok.objects, 'Deployment', 'api')).volumes).toEqual([{ name: 'host-srv-data', hostPath: { path: '/srv/data' } }]);
    expect(ok.warnings.map((w) => w.message).join('\n')).toContain('/srv/data is mounted from the node');
  });

  it('a bind-mounted file inside the folder that is missing', async () => {
    const dir = folder();
    await writeManifest(dir, 'svc.yaml', [doc('Service', 'api', webService({ volumes: ['./conf/app.ini:/etc/app.ini:ro'] }))]);
    expect(await errorsOf(dir)).toEqual([expect.stringMatching(/^svc\.yaml:\d+:\d+: spec\.volumes\[0\]: .*conf\/app\.ini does not exist$/)]);
  });

  it('a CronJob name longer than Kubernetes allows', async () => {
    const dir = folder();
    const long = 'a'.repeat(60);
    await writeManifest(dir, 'job.yaml', [doc('Schedule', long, { schedule: '@hourly', run: { image: 'x:1' } })]);
    expect(await errorsOf(dir)).toEqual([`job.yaml:4:9: metadata.name: Kubernetes CronJob name "${long}" is 60 characters long; at most 52 are allowed (Job names add 11)`]);
  });
});

describe('loader: offline', () => {
  it('checks the manifests without the secrets or files they reference', async () => {
    const dir = folder();
    await writeManifest(dir, 'svc.yaml', [doc('Service', 'api', webService({ env: { A: { secretRef: 'MISSING' }, B: { file: '/nowhere/file' } }, build: { context: './missing' } }))]);
    const online = await loadManifests(dir, { secrets: new StaticSecrets({}), displayBase: dir });
    expect(online.ok ? [] : online.errors.map((e) => e.path).sort()).toEqual(['spec.build.context', 'spec.env.A', 'spec.env.B']);
    const offline = await loadManifests(dir, { secrets: new StaticSecrets({}), displayBase: dir, offline: true });
    expect(offline.ok).toBe(true);
  });
});

describe('export kubernetes: what the Backup CronJob runs', () => {
  it.each([['examples/local', {}], ['manifests', { allowHostPath: true }]])('%s: the standalone manifest loads against the policy mounted beside it, reading its secret from the pod environment', async (folder, options) => {
    const outputs = { BackupBucketName: 'certitrack-backups-1', AlertTopicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts' };
    const r = await exportFolder(join(ROOT, folder), options, outputs);
    if (!r.ok) throw new Error('export failed');
    const pod = join(tmp, `pod-${folder.replace(/\W/g, '-')}`);
    await mkdir(join(pod, 'manifests'), { recursive: true });
    await writeFile(join(pod, 'manifests', 'backup.yaml'), String(r.export.files.get('backups/nightly.yaml')));
    await writeFile(join(pod, 'policy.yaml'), String(r.export.files.get('backups/nightly-policy.yaml')), { mode: 0o644 });
    const policy = loadHostPolicy({ file: join(pod, 'policy.yaml'), manifestsDir: join(pod, 'manifests') });
    expect(policy.secretEnv).toEqual(['DB_PASSWORD']);
    const secrets = new EnvFileSecrets(undefined, { allowEnv: [...policy.secretEnv], env: { DB_PASSWORD: 'from-the-secret' } });
    const loaded = await loadManifests(join(pod, 'manifests'), { secrets, rules: hostRules(policy) });
    if (!loaded.ok) throw new Error(loaded.errors.map(formatManifestError).join('\n'));
    const backup = loaded.state.get('Backup', 'nightly');
    expect(backup?.spec.sources[0]).toMatchObject({ postgres: { host: 'postgres', database: 'certitrack' } });
    const cron = find(objectsOf(r.export.files), 'CronJob', 'backup-nightly');
    expect((jobPodOf(cron).containers[0] as Container).env).toContainEqual({ name: 'CERTITRACK_POSTGRES_CLIENT', value: 'local' });
  });
});
