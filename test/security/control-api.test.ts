import { connect, type Socket } from 'node:net';
import { chmod, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { runCli } from '../helpers/cli.js';
import { cleanupInstance, containersOf, eventually, removeDir, startTestAgent, tempDir, testInstance, type TestAgent } from '../helpers/docker.js';
import { doc, idleService, writeManifest } from '../helpers/manifests.js';
import { curlAsNobody } from './support/attacker.js';
import { send } from './support/requests.js';

// Issue 12, "No authentication on the control API": each attack of the report, run for real
// against a running agent, refused, and nothing changed.
const instance = testInstance('sec-api');
let dir: string;
let t: TestAgent;
let agent: Agent;
let port: number;
let socketPath: string;
let token: string;

const runsOf = (key: string): unknown[] => (agent.parts.status.get(key)?.details.lastRun ? [agent.parts.status.get(key)?.details.lastRun] : []);
const jobContainers = async () => (await containersOf(instance)).filter((c) => c.Labels['io.certitrack.job'] !== undefined);
const certSerial = async () => (await readFile(join(dir, 'tls', 'cert.pem'), 'utf8')).length > 0 && agent.parts.status.get('Certificate/site')?.details.serial;
const backupsMade = async () => (await readdir(join(t.stateDir, 'backups', 'nightly')).catch(() => [] as string[])).length;
const metric = async (line: RegExp): Promise<number> => Number(line.exec((await send({ port }, 'GET', '/metrics')).body)?.[1] ?? NaN);

beforeAll(async () => {
  dir = await tempDir('sec-api');
  await writeManifest(dir, 'stack.yaml', [
    doc('Service', 'app', idleService()),
    doc('Schedule', 'hello', { schedule: '0 3 * * *', exec: { service: 'app', command: 'echo ran' } }),
    doc('Schedule', 'slow', { schedule: '0 3 * * *', concurrencyPolicy: 'Allow', exec: { service: 'app', command: 'sleep 3; echo slow done' } }),
    doc('Volume', 'data'),
    // The volume source runs a helper container: the backup takes long enough for twenty requests to meet it in flight.
    doc('Backup', 'nightly', { sources: [{ file: { path: './stack.yaml' } }, { volume: { name: 'data' } }] }),
    doc('Certificate', 'site', { domains: ['site.certitrack.test'], certFile: './tls/cert.pem', keyFile: './tls/key.pem' }),
  ]);
  t = await startTestAgent(dir, instance, { helperImage: 'certitrack-test/busybox:latest' });
  agent = t.agent;
  await agent.run();
  port = agent.address!.port;
  socketPath = join(t.stateDir, 'agent.sock');
  token = (await readFile(join(t.stateDir, 'api.token'), 'utf8')).trim();
  await eventually('stack ready and certificate issued', () => agent.notReadyServices().length === 0 && agent.parts.status.isTrue('Certificate/site', 'Ready'), 60_000);
});

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  await removeDir(dir);
  await removeDir(t.stateDir);
});

describe('the control API, attacked by a local unprivileged user', () => {
  it('refuses nobody every trigger with 401, and no job, backup or renewal happens', async () => {
    const serial = await certSerial();
    const before = { jobs: (await jobContainers()).length, hello: runsOf('Schedule/hello'), backups: await backupsMade() };
    const url = (p: string) => `http://127.0.0.1:${port}${p}`;
    for (const path of ['/v1/trigger/Schedule/hello', '/v1/trigger/Backup/nightly', '/v1/trigger/Certificate/site']) {
      for (let i = 0; i < 3; i++) {
        const r = await curlAsNobody(['-X', 'POST', url(path)]);
        expect(r.status, `${path} as nobody`).toBe(401);
        expect(r.body).toMatch(/unauthorized/);
      }
    }
    // A guessed token is no better than none.
    const guessed = await curlAsNobody(['-X', 'POST', '-H', `Authorization: Bearer ${'0'.repeat(64)}`, url('/v1/trigger/Schedule/hello')]);
    expect(guessed.status).toBe(401);
    expect({ jobs: (await jobContainers()).length, hello: runsOf('Schedule/hello'), backups: await backupsMade() }).toEqual(before);
    expect(await certSerial()).toBe(serial);
  });

  it("refuses nobody the operator's routes: suspend, resume, restart, logs, exec and the backup catalog; nothing is suspended or run", async () => {
    const url = (p: string) => `http://127.0.0.1:${port}${p}`;
    for (const path of ['/v1/resources/Service/app/suspend', '/v1/resources/Service/app/restart', '/v1/backups/nightly/verify', '/v1/backups/nightly/restore/20261201T000000Z-abcd']) {
      expect((await curlAsNobody(['-X', 'POST', url(path)])).status, path).toBe(401);
    }
    for (const path of ['/v1/logs/app', '/v1/backups/nightly']) expect((await curlAsNobody([url(path)])).status, path).toBe(401);
    // The exec upgrade is refused before any command starts, with or without a foreign Host.
    const upgrade = ['-X', 'POST', '-H', 'Connection: Upgrade', '-H', 'Upgrade: certitrack-exec'];
    expect((await curlAsNobody([...upgrade, url('/v1/exec/app?cmd=touch&cmd=/tmp/pwned')])).status).toBe(401);
    expect((await curlAsNobody([...upgrade, '-H', 'Host: evil.example', '-H', `Authorization: Bearer ${token}`, url('/v1/exec/app?cmd=touch&cmd=/tmp/pwned')])).status).toBe(421);
    expect(agent.parts.status.isTrue('Service/app', 'Suspended')).toBe(false);
    const probe = await runCli(['exec', 'app', '--state-dir', t.stateDir, '--', 'sh', '-c', 'test ! -e /tmp/pwned']);
    expect(probe.code, probe.stderr).toBe(0);
  });

  it('refuses nobody /status and /v1/info; /healthz, /readyz and /metrics stay open for probes and Prometheus', async () => {
    const url = (p: string) => `http://127.0.0.1:${port}${p}`;
    for (const p of ['/status', '/v1/info']) expect((await curlAsNobody([url(p)])).status, p).toBe(401);
    for (const p of ['/healthz', '/readyz', '/metrics']) expect((await curlAsNobody([url(p)])).status, p).toBe(200);
    expect((await curlAsNobody([url('/metrics')])).body).not.toContain(token);
  });

  it('the token is root\'s alone: nobody can read api.token, nor connect to the socket (itself 0600, even in a traversable folder)', async () => {
    expect((await stat(join(t.stateDir, 'api.token'))).mode & 0o777).toBe(0o600);
    const sock = await stat(socketPath);
    expect(sock.isSocket()).toBe(true);
    expect(sock.mode & 0o777).toBe(0o600);
    expect(sock.uid).toBe(0);
    const asNobodyRead = await curlAsNobody(['file://' + join(t.stateDir, 'api.token')]);
    expect(asNobodyRead.body).not.toContain(token);
    // Open the folder to everyone for this check: the socket's own mode must still keep nobody out.
    await chmod(t.stateDir, 0o755);
    try {
      const r = await curlAsNobody(['--unix-socket', socketPath, '-X', 'POST', 'http://localhost/v1/trigger/Schedule/hello']);
      expect(r.run.stderr).toMatch(/Permission denied|Couldn't connect/i);
      expect(r.status).toBe(0);
    } finally {
      await chmod(t.stateDir, 0o700);
    }
  });

  it('root needs no flags over the socket, and the token works over TCP', async () => {
    const viaSocket = await send({ socketPath }, 'GET', '/v1/info');
    expect(viaSocket.status).toBe(200);
    expect(JSON.parse(viaSocket.body)).toMatchObject({ instance });
    const viaTcp = await send({ port }, 'GET', '/status', { authorization: `Bearer ${token}` });
    expect(viaTcp.status).toBe(200);
    expect(JSON.parse(viaTcp.body)).toMatchObject({ agent: { instance } });
    const cli = await runCli(['status', '--state-dir', t.stateDir]);
    expect(cli.code).toBe(0);
  });

  it('refuses a foreign Host header (DNS rebinding, cross-site POST) with 421, even with the token', async () => {
    const runs = runsOf('Schedule/hello');
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.nip.io:${port}`]) {
      const r = await send({ port }, 'POST', '/v1/trigger/Schedule/hello', { host, authorization: `Bearer ${token}` });
      expect(r.status, host).toBe(421);
    }
    const page = await curlAsNobody(['-X', 'POST', '-H', 'Host: attacker.example', '-H', 'Origin: http://attacker.example', `http://127.0.0.1:${port}/v1/trigger/Schedule/hello`]);
    expect(page.status).toBe(421);
    expect(runsOf('Schedule/hello')).toEqual(runs);
    // The listener's own address and localhost are its own names.
    expect((await send({ port }, 'GET', '/healthz', { host: `localhost:${port}` })).status).toBe(200);
    expect((await send({ port }, 'GET', '/healthz', { host: 'evil.example' })).status).toBe(421);
  });

  it('lets one run per resource be in flight: a second trigger gets 429 with Retry-After', async () => {
    const first = send({ socketPath }, 'POST', '/v1/trigger/Schedule/slow');
    await eventually('slow run started', async () => (await jobContainers()).length > 0 || agent.parts.status.get('Schedule/slow')?.details.running !== undefined, 10_000, 50);
    const answers = await Promise.all(Array.from({ length: 5 }, () => send({ socketPath }, 'POST', '/v1/trigger/Schedule/slow')));
    for (const a of answers) {
      expect(a.status).toBe(429);
      expect(a.headers['retry-after']).toMatch(/^\d+$/);
    }
    const done = await first;
    expect(done.status).toBe(200);
    expect(JSON.parse(done.body)).toMatchObject({ succeeded: true });
  });

  it('twenty backups in a row cannot be queued: one runs, the rest are refused', async () => {
    const before = await backupsMade();
    const answers = await Promise.all(Array.from({ length: 20 }, () => send({ socketPath }, 'POST', '/v1/trigger/Backup/nightly')));
    const codes = answers.map((a) => a.status).sort();
    expect(codes.filter((c) => c === 200)).toHaveLength(1);
    expect(codes.filter((c) => c === 429)).toHaveLength(19);
    expect(await backupsMade()).toBe(before + 1);
  });

  it('refuses bodies over the limit on every route and counts every rejection, logging at most one line a minute', async () => {
    const big = Buffer.alloc(1024 * 1024, 'x');
    const r = await send({ port }, 'POST', '/v1/trigger/Schedule/hello', { authorization: `Bearer ${token}`, 'content-length': String(big.length) }, big).catch(() => ({ status: 413 }));
    expect(r.status).toBe(413);
    const authBefore = await metric(/certitrack_http_rejected_requests_total\{reason="auth"\} (\d+)/);
    const linesBefore = t.logs.lines.filter((l) => l.includes('HTTP request rejected') && l.includes('"reason":"auth"')).length;
    for (let i = 0; i < 50; i++) await send({ port }, 'GET', '/status', { authorization: 'Bearer wrong' });
    expect(await metric(/certitrack_http_rejected_requests_total\{reason="auth"\} (\d+)/)).toBe(authBefore + 50);
    const linesAfter = t.logs.lines.filter((l) => l.includes('HTTP request rejected') && l.includes('"reason":"auth"')).length;
    expect(linesAfter - linesBefore).toBeLessThanOrEqual(1);
  });

  it('caps half-open connections, and root still reaches the agent through the socket meanwhile', async () => {
    const sockets: Socket[] = [];
    try {
      // Connections that never send a request, past the cap of 256.
      for (let i = 0; i < 300; i++) {
        const s = connect(port, '127.0.0.1');
        s.on('error', () => undefined);
        sockets.push(s);
      }
      await eventually('connections over the cap dropped', async () => (await metric(/certitrack_http_rejected_requests_total\{reason="connection_limit"\} (\d+)/)) > 0, 20_000, 200).catch(async () => {
        // /metrics itself may be refused over TCP while the cap is full: read the counter from the socket.
        const m = await send({ socketPath }, 'GET', '/metrics');
        expect(m.body).toMatch(/certitrack_http_rejected_requests_total\{reason="connection_limit"\} [1-9]/);
      });
      expect((await send({ socketPath }, 'GET', '/healthz')).status).toBe(200);
      // Half-open connections are closed by the agent once the headers timeout passes.
      await eventually('idle connections closed by the agent', () => sockets.filter((s) => !s.destroyed && !s.readableEnded).length === 0, 40_000, 500);
    } finally {
      for (const s of sockets) s.destroy();
    }
    expect((await send({ port }, 'GET', '/healthz')).status).toBe(200);
  });
});
