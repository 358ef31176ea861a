import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Let's Encrypt's test CA from Debian's `pebble` package, on free loopback ports:
 * pebble-challtestsrv answers every DNS name with 127.0.0.1, and Pebble validates http-01 by
 * connecting to 127.0.0.1:<httpPort> (the port the code under test serves challenges on).
 * Pebble's own HTTPS listener uses a certificate made here with openssl; `caFile` trusts it.
 */
export interface Pebble {
  readonly directoryUrl: string;
  /** PEM file of the CA for Pebble's HTTPS listener (what a Certificate's issuer.acme.caFile names). */
  readonly caFile: string;
  readonly caPem: string;
  /** Pebble's issuing root, new on every (re)start. */
  root(): Promise<string>;
  /** Stops only the CA process (simulates the CA being down); `startCa` brings it back on the same ports. */
  stopCa(): Promise<void>;
  startCa(): Promise<void>;
  /** Everything Pebble printed, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

const run = promisify(execFile);

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    // The DNS server wants the same number on UDP: check that too.
    const udpFree = await new Promise<boolean>((resolve) => {
      const sock = createSocket('udp4');
      sock.once('error', () => resolve(false));
      sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port');
}

function fetchText(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms: ${String(last)}`);
}

async function waitTcp(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export async function startPebble(opts: { httpPort: number; env?: Record<string, string> }): Promise<Pebble> {
  const dir = await mkdtemp(join(tmpdir(), 'pebble-'));
  const caFile = join(dir, 'listener-cert.pem');
  const keyFile = join(dir, 'listener-key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyFile, '-out', caFile, '-days', '7', '-subj', '/CN=pebble-listener',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  const caPem = await readFile(caFile, 'utf8');

  const [dnsPort, acmePort, mgmtPort, tlsPort, challMgmtPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const config = join(dir, 'pebble-config.json');
  await writeFile(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: caFile,
        privateKey: keyFile,
        httpPort: opts.httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );

  let output = '';
  // If the test process ends without its afterAll (a crash, process.exit), take the servers with it.
  const children = new Set<ChildProcess>();
  const killAll = (): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const capture = (child: ChildProcess, tag: string): void => {
    children.add(child);
    child.on('error', (err) => (output += `[${tag}] cannot start: ${err.message} (Debian: apt-get install -y pebble)\n`));
    child.stdout?.on('data', (c: Buffer) => (output += `[${tag}] ${c.toString()}`));
    child.stderr?.on('data', (c: Buffer) => (output += `[${tag}] ${c.toString()}`));
  };

  const chall = spawn(
    'pebble-challtestsrv',
    ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${challMgmtPort}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  capture(chall, 'challtestsrv');
  await waitFor('pebble-challtestsrv', () => waitTcp(challMgmtPort)).catch((err: Error) => {
    throw new Error(`${err.message}\n${output}`);
  });

  let pebble: ChildProcess | undefined;
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const startCa = async (): Promise<void> => {
    pebble = spawn('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0', PEBBLE_WFE_NONCEREJECT: '0', ...opts.env },
    });
    capture(pebble, 'pebble');
    await waitFor('pebble', async () => (await fetchText(directoryUrl, caPem)).status === 200).catch((err: Error) => {
      throw new Error(`${err.message}\n${output}`);
    });
  };
  const stopProcess = async (child: ChildProcess | undefined): Promise<void> => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  await startCa();

  return {
    directoryUrl,
    caFile,
    caPem,
    async root() {
      const res = await fetchText(`https://127.0.0.1:${mgmtPort}/roots/0`, caPem);
      if (res.status !== 200) throw new Error(`pebble /roots/0: HTTP ${res.status}`);
      return res.body;
    },
    stopCa: () => stopProcess(pebble),
    startCa,
    logs: () => output,
    async stop() {
      await stopProcess(pebble);
      await stopProcess(chall);
      process.off('exit', killAll);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
