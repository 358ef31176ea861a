import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerClients } from '../../src/adapters/docker/index.js';
import { engineSocketOf } from '../../src/adapters/docker/engine-socket.js';
import { slabPool } from '../../src/adapters/slab-pool.js';
import { attachExec } from '../../src/adapters/docker/exec-stream.js';
import { adapter, BUSYBOX, cleanupInstance, docker, removeDir, tempDir, testInstance } from '../helpers/docker.js';

// Exec output is read on a connection of the agent's own, straight into one reused buffer
// (src/adapters/docker/exec-stream.ts): these run it against the engine, not a stand-in.
const instance = testInstance('exec');
const name = `${instance}-box`;
const MiB = 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  const c = await docker.createContainer({ name, Image: BUSYBOX, Cmd: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'], Labels: { 'io.certitrack.instance': instance } });
  await c.start();
  const made = await adapter.containers.exec(name, ['sh', '-c', 'head -c 24000000 /dev/urandom > /tmp/blob']);
  expect(made.exitCode).toBe(0);
});

afterAll(() => cleanupInstance(instance));

/** A sink that takes its time over every write and keeps little room, so the exec has to wait. */
function slowSink(): { sink: Writable; bytes: () => Buffer; chunks: () => number } {
  const got: Buffer[] = [];
  const sink = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, done) {
      got.push(chunk);
      setTimeout(done, 2);
    },
  });
  return { sink, bytes: () => Buffer.concat(got), chunks: () => got.length };
}

describe('exec through the agent\'s own connection', () => {
  it('streams 24 MB of stdout intact into a slow sink, in batches, with the exit code', async () => {
    const expected = (await adapter.containers.exec(name, ['sha256sum', '/tmp/blob'])).outputTail.split(' ')[0];
    const { sink, bytes, chunks } = slowSink();
    const res = await adapter.containers.exec(name, ['cat', '/tmp/blob'], { stdout: sink });
    expect(res.exitCode).toBe(0);
    expect(bytes().length).toBe(24_000_000);
    expect(sha(bytes())).toBe(expected);
    // Batched (up to 1 MiB each), not a sink call per read.
    expect(chunks()).toBeLessThan(24_000_000 / (64 * 1024));
  });

  it('feeds stdin and closes it, and keeps stderr and exit codes', async () => {
    const input = randomBytes(5 * MiB);
    const fed = await adapter.containers.exec(name, ['sha256sum'], { stdin: Readable.from([input.subarray(0, MiB), input.subarray(MiB)]) });
    expect(fed.exitCode).toBe(0);
    expect(fed.outputTail.split(' ')[0]).toBe(sha(input));
    const failed = await adapter.containers.exec(name, ['sh', '-c', 'echo out; echo oops >&2; exit 3']);
    expect(failed.exitCode).toBe(3);
    expect(failed.outputTail).toContain('out\n');
    expect(failed.outputTail).toContain('oops\n');
  });

  it('hands on output that pauses without waiting for the process to end', async () => {
    const seen: string[] = [];
    let firstBeforeEnd = false;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        seen.push(chunk.toString());
        done();
      },
    });
    const running = adapter.containers.exec(name, ['sh', '-c', 'echo first; sleep 2; echo second'], { stdout: sink });
    for (let i = 0; i < 150 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    firstBeforeEnd = seen.length === 1;
    await running;
    expect(firstBeforeEnd).toBe(true);
    expect(seen).toEqual(['first\n', 'second\n']);
  });

  it('hands on slabs that come back to the pool: given back by the sink, or at once when kept only for the result', async () => {
    const slabsOf = async (): Promise<Set<ArrayBufferLike>> => {
      const seen = new Set<ArrayBufferLike>();
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          seen.add(chunk.buffer);
          // The last holder, as a local destination is once its write has completed.
          slabPool.giveBack(chunk);
          done();
        },
      });
      await adapter.containers.exec(name, ['head', '-c', '3000000', '/tmp/blob'], { stdout: sink });
      return seen;
    };
    const first = await slabsOf();
    // An exec whose output is only kept for its result copies it, so it takes no slab for good.
    expect((await adapter.containers.exec(name, ['echo', 'hello'])).outputTail).toBe('hello\n');
    const second = await slabsOf();
    expect([...second].every((slab) => first.has(slab))).toBe(true);
  });

  it('stops when aborted, and reports the engine\'s refusal in its own words', async () => {
    const ac = new AbortController();
    const sleeping = adapter.containers.exec(name, ['sleep', '30'], { signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    await expect(sleeping).rejects.toThrow(/aborted/);

    const exec = await docker.getContainer(name).exec({ Cmd: ['true'], AttachStdout: true, AttachStderr: true });
    // Stopping the container ends its exec instances: the start is refused.
    await docker.getContainer(name).stop({ t: 1 });
    const refused = attachExec(engineSocketOf(docker), exec.id, { stdout: () => undefined, stderr: () => undefined });
    await expect(refused).rejects.toMatchObject({ statusCode: 404, message: expect.stringMatching(/No such exec instance/) });
    await docker.getContainer(name).start();
  });
});

/** Relays every connection on loopback to the engine's Unix socket, as an engine listening on TCP would answer. */
async function relayToEngine(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}
const relay = (client: Socket): void => {
  const engine = connect('/var/run/docker.sock');
  client.pipe(engine).pipe(client);
  const close = (): void => {
    client.destroy();
    engine.destroy();
  };
  client.on('error', close);
  engine.on('error', close);
};

describe('exec over the transports DOCKER_HOST can name', () => {
  it('streams the same bytes over tcp:// and over TLS with a client certificate', async () => {
    const expected = (await adapter.containers.exec(name, ['sha256sum', '/tmp/blob'])).outputTail.split(' ')[0];
    const dir = await tempDir('engine-tls');
    const tcp = createServer(relay);
    let tls: Server | undefined;
    try {
      const received = async (engine: Dockerode): Promise<string> => {
        const got: Buffer[] = [];
        const sink = new Writable({ write: (c: Buffer, _e, done) => (got.push(c), done()) });
        const res = await dockerClients(engine).containers.exec(name, ['cat', '/tmp/blob'], { stdout: sink });
        expect(res.exitCode).toBe(0);
        return sha(Buffer.concat(got));
      };
      expect(await received(new Dockerode({ host: '127.0.0.1', port: await relayToEngine(tcp), protocol: 'http' }))).toBe(expected);

      // One self-signed pair serves as the engine's certificate, the client's and the CA of both, as with DOCKER_CERT_PATH.
      await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=engine', '-addext', 'subjectAltName=IP:127.0.0.1']);
      const [key, cert] = await Promise.all([readFile(join(dir, 'key.pem')), readFile(join(dir, 'cert.pem'))]);
      let clientAuthorized = false;
      tls = createTlsServer({ key, cert, ca: cert, requestCert: true, rejectUnauthorized: true }, (client) => {
        clientAuthorized = client.authorized;
        relay(client);
      });
      const tlsPort = await relayToEngine(tls);
      expect(await received(new Dockerode({ host: '127.0.0.1', port: tlsPort, protocol: 'https', ca: cert, cert, key }))).toBe(expected);
      expect(clientAuthorized).toBe(true);
    } finally {
      tcp.close();
      tls?.close();
      await removeDir(dir);
    }
  });
});
