import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import Dockerode from 'dockerode';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerClients } from '../../src/adapters/docker/index.js';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_SERVICE, MANAGED_BY_VALUE } from '../../src/adapters/docker-types.js';
import { configureAcmeRetries } from '../../src/certificates/acme-http.js';
import { parseCertificate } from '../../src/certificates/cert-store.js';
import { loadManifests } from '../../src/manifests/load.js';
import { DEFAULT_POLICY, hostRules } from '../../src/manifests/host-policy.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { CertificateReconciler } from '../../src/reconcilers/certificate/certificate-reconciler.js';
import { AcmeResponder } from '../../src/server/acme-responder.js';
import { DurableState } from '../../src/state/durable-state.js';
import { StatusBoard } from '../../src/state/status-board.js';
import { reconcileOnce } from '../helpers/contract.js';
import { freePort, startPebble, type Pebble } from '../helpers/pebble.js';

/**
 * End to end with the shipped nginx/nginx.conf in a real nginx container: the agent obtains a
 * certificate from Pebble with http-01 answered by nginx from the shared webroot, writes it into the
 * bind-mounted ssl folder, and reloads nginx through the Docker exec API; a request that is open
 * during the reload completes.
 */
const docker = new Dockerode();
const instance = `cert-nginx-${randomBytes(3).toString('hex')}`;
const ownLabels = { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_INSTANCE]: instance };
const DOMAIN = 'certitrack.test';

let pebble: Pebble;
let root: string;
let port80: number;
let port443: number;
let reconciler: CertificateReconciler;
let state: DurableState;
let status: StatusBoard;
let clock = new Date();
let pebbleRoot: string;

async function reconcile(name: string) {
  // nginx's files sit beside the manifests folder and Pebble's CA in its own: the host policy allows both.
  const res = await loadManifests(join(root, 'manifests'), { secrets: new StaticSecrets({}), rules: hostRules({ ...DEFAULT_POLICY, allowedRoots: [root, dirname(pebble.caFile)] }) });
  if (!res.ok) throw new Error(JSON.stringify(res.errors));
  return reconcileOnce(reconciler, name, res.state, status, { now: () => clock, log: pino({ level: 'silent' }) });
}

/** The serial a fresh TLS client sees (upper-case hex, like the agent's status). */
function servedSerial(): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: '127.0.0.1', port: port443, servername: DOMAIN, rejectUnauthorized: false }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toUpperCase();
      socket.end();
      resolvePromise(serial.replace(/^0+/, ''));
    });
    socket.on('error', reject);
  });
}

/**
 * Until `serial` is what new clients get, five connections in a row: for a few milliseconds after a
 * reload an old worker that has not yet handled its QUIT may still accept a connection.
 */
/**
 * nginx's workers from before a reload keep accepting for a moment after the new ones serve (on a
 * loaded machine, after several answers with the new serial): a reload is over only when none
 * titled "shutting down" is left. Docker's top runs ps on the host; the image has no ps.
 */
async function waitForOldWorkersGone(timeoutMs = 10_000): Promise<void> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    const top = await docker.getContainer(`${instance}-nginx`).top().catch(() => undefined);
    if (top && !(top.Processes as string[][]).some((p) => p.join(' ').includes('shutting down'))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx's old workers were still shutting down after ${timeoutMs} ms`);
}

async function waitForSerial(serial: string, timeoutMs = 10_000): Promise<number> {
  const t0 = performance.now();
  const want = serial.replace(/^0+/, '');
  let streak = 0;
  let firstSeen = 0;
  while (performance.now() - t0 < timeoutMs) {
    if ((await servedSerial().catch(() => '')) === want) {
      if (streak++ === 0) firstSeen = performance.now() - t0;
      if (streak === 5) return firstSeen;
    } else streak = 0;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`nginx did not serve serial ${serial} within ${timeoutMs} ms (serving ${await servedSerial().catch((e: Error) => e.message)})`);
}

async function container(name: string, opts: Dockerode.ContainerCreateOptions, service: string): Promise<void> {
  const c = await docker.createContainer({
    name: `${instance}-${name}`,
    Labels: { ...ownLabels, [LABEL_SERVICE]: service },
    ...opts,
  });
  await c.start();
}

beforeAll(async () => {
  configureAcmeRetries({ maxAttempts: 0, delaySeconds: 1 });
  if (!(await docker.getImage('certitrack-test/nginx:latest').inspect().then(() => true, () => false)))
    throw new Error('image certitrack-test/nginx is missing: run bash scripts/build-images.sh');
  root = await mkdtemp(join(tmpdir(), 'cert-nginx-'));
  for (const d of ['manifests', 'nginx/ssl', 'nginx/acme-challenge', 'www/cgi-bin', 'api/api/v1', 'state']) await mkdir(join(root, d), { recursive: true });
  await copyFile(resolve(import.meta.dirname, '../../nginx/nginx.conf'), join(root, 'nginx/nginx.conf'));
  // A response that lasts until the test creates /www/release (at most 30 s): the request that must survive the reload.
  await writeFile(
    join(root, 'www/cgi-bin/slow'),
    '#!/bin/sh\necho "Content-Type: text/plain"\necho ""\ni=0\nwhile [ ! -f /www/release ] && [ $i -lt 300 ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done\necho done\n',
  );
  await chmod(join(root, 'www/cgi-bin/slow'), 0o755);
  await writeFile(join(root, 'api/api/v1/health'), 'ok\n');

  port80 = await freePort();
  port443 = await freePort();
  pebble = await startPebble({ httpPort: port80 });
  pebbleRoot = await pebble.root();

  await writeFile(
    join(root, 'manifests/stack.yaml'),
    `apiVersion: certitrack.io/v1
kind: Service
metadata: { name: nginx }
spec:
  image: certitrack-test/nginx:latest
---
apiVersion: certitrack.io/v1
kind: Service
metadata: { name: frontend }
spec:
  image: certitrack-test/busybox:latest
---
apiVersion: certitrack.io/v1
kind: Service
metadata: { name: backend }
spec:
  image: certitrack-test/busybox:latest
---
apiVersion: certitrack.io/v1
kind: Certificate
metadata: { name: local }
spec:
  domains: [certitrack.local]
  certFile: ../local/cert.pem
  keyFile: ../local/key.pem
  reload:
    - { service: frontend, signal: SIGHUP }
    - backend
---
apiVersion: certitrack.io/v1
kind: Certificate
metadata: { name: site }
spec:
  domains: [${DOMAIN}]
  issuer:
    acme:
      directory: ${pebble.directoryUrl}
      email: ops@certitrack.test
      skipChallengeVerification: true
      caFile: ${pebble.caFile}
  certFile: ../nginx/ssl/cert.pem
  keyFile: ../nginx/ssl/key.pem
  reload: [nginx]
  challenge:
    http01:
      webroot: { path: ../nginx/acme-challenge }
`,
  );

  state = await DurableState.open(join(root, 'state'));
  status = new StatusBoard(state, () => clock);
  reconciler = new CertificateReconciler(dockerClients(docker), new AcmeResponder(), state, new Registry(), {
    instance,
    stateDir: join(root, 'state'),
    now: () => clock,
    retry: { maxOrdersPerHour: 10 },
  });

  await docker.createNetwork({ Name: `${instance}-net`, Labels: ownLabels, CheckDuplicate: true });
  const onNet = (alias: string) => ({ EndpointsConfig: { [`${instance}-net`]: { Aliases: [alias] } } });
  await container('frontend', { Image: 'certitrack-test/busybox:latest', Cmd: ['httpd', '-f', '-p', '3000', '-h', '/www'], HostConfig: { Binds: [`${join(root, 'www')}:/www:ro`], NetworkMode: `${instance}-net` }, NetworkingConfig: onNet('frontend') }, 'frontend');
  await container('backend', { Image: 'certitrack-test/busybox:latest', Cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'], HostConfig: { Binds: [`${join(root, 'api')}:/www:ro`], NetworkMode: `${instance}-net` }, NetworkingConfig: onNet('backend') }, 'backend');
}, 60_000);

afterAll(async () => {
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`${LABEL_INSTANCE}=${instance}`] } });
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  await docker.getNetwork(`${instance}-net`).remove().catch(() => undefined);
  await pebble?.stop();
  if (root) await rm(root, { recursive: true, force: true });
}, 30_000);

describe('Certificate with a real nginx', () => {
  it('starts nginx on a self-signed stand-in, then serves the ACME certificate obtained through nginx itself', async () => {
    await reconcile('site');
    const standIn = parseCertificate(await readFile(join(root, 'nginx/ssl/cert.pem'), 'utf8'));
    expect(standIn.selfSigned).toBe(true);
    // nginx reads the pair through relative links inside its read-only mount of the ssl folder.
    expect(await readlink(join(root, 'nginx/ssl/cert.pem'))).toBe('.certitrack-cert.pem/current/cert.pem');
    expect(await readlink(join(root, 'nginx/ssl/key.pem'))).toBe('.certitrack-cert.pem/current/key.pem');

    await container(
      'nginx',
      {
        Image: 'certitrack-test/nginx:latest',
        HostConfig: {
          Binds: [`${join(root, 'nginx/nginx.conf')}:/etc/nginx/nginx.conf:ro`, `${join(root, 'nginx/ssl')}:/etc/nginx/ssl:ro`, `${join(root, 'nginx/acme-challenge')}:/var/www/acme-challenge:ro`],
          PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port80) }], '443/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port443) }] },
          NetworkMode: `${instance}-net`,
        },
        ExposedPorts: { '80/tcp': {}, '443/tcp': {} },
      },
      'nginx',
    );
    await waitForSerial(standIn.serial);

    // The HTTPS redirect is kept for everything but the challenge path.
    const plain = (path: string) => new Promise<number>((r, j) => httpGet({ host: '127.0.0.1', port: port80, path, headers: { host: DOMAIN } }, (res) => { res.resume(); r(res.statusCode ?? 0); }).on('error', j));
    expect(await plain('/')).toBe(301);
    expect(await plain('/.well-known/acme-challenge/absent')).not.toBe(301);

    clock = new Date(clock.getTime() + 10_001);
    const t0 = performance.now();
    await reconcile('site');
    const issueMs = performance.now() - t0;
    const issued = parseCertificate(await readFile(join(root, 'nginx/ssl/cert.pem'), 'utf8'));
    expect(issued.issuer).toMatch(/Pebble/);
    const seenAfterMs = await waitForSerial(issued.serial);
    await waitForOldWorkersGone();
    expect(status.get('Certificate/site')?.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Valid' });
    console.log(`ACME via nginx webroot + reload: ${issueMs.toFixed(0)} ms; new serial served ${seenAfterMs.toFixed(0)} ms after`);

    // Verified properly: the chain nginx serves leads to Pebble's root for the domain.
    const authorized = await new Promise<boolean>((r, j) => {
      const s = connect({ host: '127.0.0.1', port: port443, servername: DOMAIN, ca: pebbleRoot }, () => {
        r(s.authorized);
        s.end();
      });
      s.on('error', j);
    });
    expect(authorized).toBe(true);
  }, 60_000);

  it('renews and reloads while a long request is open; the request completes and new clients see the new serial', async () => {
    const before = await servedSerial();
    const started = performance.now();
    let reloadDone = 0;
    const slow = new Promise<{ status: number; body: string; endedAt: number; headersAt: number; serial: string }>((resolvePromise, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: port443, path: '/cgi-bin/slow', servername: DOMAIN, ca: pebbleRoot, headers: { host: DOMAIN } }, (res) => {
        const headersAt = performance.now();
        const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber.toUpperCase().replace(/^0+/, '');
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body, endedAt: performance.now(), headersAt, serial }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    await new Promise((r) => setTimeout(r, 300)); // the request is in nginx, waiting on the CGI

    const info = status.get('Certificate/site')?.details as { notBefore: string; notAfter: string };
    const notBefore = Date.parse(info.notBefore);
    clock = new Date(notBefore + (Date.parse(info.notAfter) - notBefore) * 0.7);
    await reconcile('site');
    reloadDone = performance.now();
    const renewed = parseCertificate(await readFile(join(root, 'nginx/ssl/cert.pem'), 'utf8'));
    expect(renewed.serial.replace(/^0+/, '')).not.toBe(before);
    const seenAfterMs = await waitForSerial(renewed.serial);

    await writeFile(join(root, 'www/release'), '');
    const res = await slow;
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^line 0\nline 1\n[\s\S]*\ndone\n$/);
    expect(res.body).not.toMatch(/line 299/); // released by the test, not by the CGI's own time limit
    expect(res.serial).toBe(before); // its connection was made to the old workers, before the reload
    expect(res.endedAt).toBeGreaterThan(reloadDone); // and it was still open when nginx reloaded
    console.log(
      `renewal+reload took ${(reloadDone - started - 300).toFixed(0)} ms; new serial served ${seenAfterMs.toFixed(0)} ms after; ` +
        `slow request: headers at ${(res.headersAt - started).toFixed(0)} ms, completed ${(res.endedAt - reloadDone).toFixed(0)} ms after the reload`,
    );
    clock = new Date();
  }, 60_000);

  it('reloads by signal, and reports a reload that fails while keeping the new certificate and retrying', async () => {
    const t = new Date(clock.getTime() + 1000);
    clock = t;
    const result = await reconcile('local');
    const local = parseCertificate(await readFile(join(root, 'local/cert.pem'), 'utf8'));
    expect(local.selfSigned).toBe(true);
    expect(local.notAfter.getTime()).toBe(Math.floor(t.getTime() / 1000) * 1000 + 90 * 86_400_000); // X.509 times have whole seconds
    // busybox httpd took SIGHUP in its stride; the backend has no nginx binary, so its reload fails.
    expect((await docker.getContainer(`${instance}-frontend`).inspect()).State.Running).toBe(true);
    const ready = () => status.get('Certificate/local')?.conditions.find((c) => c.type === 'Ready');
    expect(ready()).toMatchObject({ status: 'False', reason: 'ReloadFailed', message: expect.stringMatching(/reload of service backend \(nginx -s reload\) exited 12[67]/) });
    expect(result.requeueAfterMs).toBe(30_000);
    const details = status.get('Certificate/local')?.details as { serial: string; nextRenewal: string };
    expect(details.serial).toBe(local.serial);
    const twoThirds = local.notBefore.getTime() + ((local.notAfter.getTime() - local.notBefore.getTime()) * 2) / 3;
    expect(Math.abs(Date.parse(details.nextRenewal) - twoThirds)).toBeLessThan(1000);
    // The certificate is not issued again while the reload is retried.
    await reconcile('local');
    expect(parseCertificate(await readFile(join(root, 'local/cert.pem'), 'utf8')).serial).toBe(local.serial);
    expect(ready()?.reason).toBe('ReloadFailed');
  }, 30_000);

  it('moves the plain files of an older agent into the linked layout while nginx serves them, with no failed connection', async () => {
    const ssl = join(root, 'nginx/ssl');
    const pem = await readFile(join(ssl, 'cert.pem'), 'utf8');
    const key = await readFile(join(ssl, 'key.pem'), 'utf8');
    const serial = parseCertificate(pem).serial;
    // What an agent before the linked layout left: two plain files, and nginx loaded from them.
    await rm(join(ssl, 'cert.pem'));
    await rm(join(ssl, 'key.pem'));
    await rm(join(ssl, '.certitrack-cert.pem'), { recursive: true });
    await writeFile(join(ssl, 'cert.pem'), pem);
    await writeFile(join(ssl, 'key.pem'), key, { mode: 0o600 });
    const nginx = docker.getContainer(`${instance}-nginx`);
    const reloadNginx = async (): Promise<void> => {
      const exec = await nginx.exec({ Cmd: ['nginx', '-s', 'reload'], AttachStdout: true, AttachStderr: true });
      const stream = await exec.start({});
      await new Promise((r) => stream.on('end', r).resume());
      expect((await exec.inspect()).ExitCode).toBe(0);
    };
    await reloadNginx();
    await waitForSerial(serial);

    let failures = 0;
    let probes = 0;
    let probing = true;
    const prober = (async () => {
      while (probing) {
        probes++;
        if ((await servedSerial().catch(() => 'failed')) !== serial.replace(/^0+/, '')) failures++;
      }
    })();
    try {
      clock = new Date();
      await reconcile('site'); // adopt, nothing else due: no new certificate, no reload needed
      expect(await readlink(join(ssl, 'cert.pem'))).toBe('.certitrack-cert.pem/current/cert.pem');
      expect(await readFile(join(ssl, 'cert.pem'), 'utf8')).toBe(pem);
      await reloadNginx(); // nginx reads the pair through the links now
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      probing = false;
      await prober;
    }
    expect(probes).toBeGreaterThan(10);
    expect(failures).toBe(0);
    expect(status.get('Certificate/site')?.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Valid' });
  }, 30_000);
});
