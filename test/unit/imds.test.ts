import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ImdsClient } from '../../src/aws/imds.js';

/**
 * A fake IMDSv2: PUT /latest/api/token with a TTL header hands out a token; every GET must carry a
 * valid one (IMDSv1-style GETs and wrong or expired tokens get 401, as with HttpTokens=required).
 * The hop limit (1 on the host) cannot be tested here: it is enforced by the EC2 network on the
 * token's response packets, not by anything an HTTP server on 127.0.0.1 can imitate.
 */
interface FakeImds {
  url: string;
  tokensIssued: number;
  gets: number;
  /** Invalidate every token handed out so far (what a TTL expiry looks like to the client). */
  expireTokens(): void;
  /** Answer 401 to every GET whatever the token. */
  rejectAll: boolean;
  close(): Promise<void>;
}

const IDENTITY = {
  accountId: '123456789012',
  architecture: 'x86_64',
  availabilityZone: 'eu-west-1b',
  imageId: 'ami-0abcdef1234567890',
  instanceId: 'i-0123456789abcdef0',
  instanceType: 't3.medium',
  privateIp: '10.0.1.23',
  region: 'eu-west-1',
  version: '2017-09-30',
};

async function startFakeImds(): Promise<FakeImds> {
  const valid = new Set<string>();
  let counter = 0;
  const state = { tokensIssued: 0, gets: 0, rejectAll: false };
  const server: Server = createServer((req: IncomingMessage, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21_600) {
        res.writeHead(400).end();
        return;
      }
      const token = `token-${++counter}`;
      valid.add(token);
      state.tokensIssued++;
      res.writeHead(200, { 'content-type': 'text/plain', 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) }).end(token);
      return;
    }
    if (req.method === 'GET') {
      state.gets++;
      const token = req.headers['x-aws-ec2-metadata-token'];
      if (state.rejectAll || typeof token !== 'string' || !valid.has(token)) {
        res.writeHead(401).end();
        return;
      }
      if (req.url === '/latest/dynamic/instance-identity/document') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(JSON.stringify(IDENTITY, null, 2));
        return;
      }
      res.writeHead(404).end();
      return;
    }
    res.writeHead(405).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    expireTokens: () => valid.clear(),
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

describe('ImdsClient against a fake IMDSv2', () => {
  let imds: FakeImds;
  beforeAll(async () => {
    imds = await startFakeImds();
  });
  afterAll(() => imds.close());
  afterEach(() => {
    imds.rejectAll = false;
  });

  it('the fake requires a token: a tokenless (IMDSv1) GET and a wrong token are refused', async () => {
    const path = `${imds.url}/latest/dynamic/instance-identity/document`;
    expect((await fetch(path)).status).toBe(401);
    expect((await fetch(path, { headers: { 'x-aws-ec2-metadata-token': 'forged' } })).status).toBe(401);
  });

  it('reads instance id, region, type and AZ with a session token, reusing the token', async () => {
    const client = new ImdsClient({ baseUrl: imds.url });
    const before = imds.tokensIssued;
    const result = await client.identity();
    expect(result).toEqual({
      ok: true,
      identity: { instanceId: 'i-0123456789abcdef0', region: 'eu-west-1', instanceType: 't3.medium', availabilityZone: 'eu-west-1b', accountId: '123456789012', imageId: 'ami-0abcdef1234567890' },
    });
    await client.identity();
    expect(imds.tokensIssued - before).toBe(1);
  });

  it('asks for a new token once when the old one is rejected (expired)', async () => {
    const client = new ImdsClient({ baseUrl: imds.url });
    expect((await client.identity()).ok).toBe(true);
    imds.expireTokens();
    const before = imds.tokensIssued;
    const result = await client.identity();
    expect(result.ok).toBe(true);
    expect(imds.tokensIssued - before).toBe(1);
  });

  it('renews the token before its TTL runs out', async () => {
    let now = 1_000_000;
    const client = new ImdsClient({ baseUrl: imds.url, tokenTtlSeconds: 120, now: () => now });
    await client.identity();
    const before = imds.tokensIssued;
    now += 61_000; // within a minute of expiry
    await client.identity();
    expect(imds.tokensIssued - before).toBe(1);
  });

  it('gives up after one retry when every token is refused, saying why', async () => {
    imds.rejectAll = true;
    const gets = imds.gets;
    const result = await new ImdsClient({ baseUrl: imds.url }).identity();
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/answered 401/);
    expect(imds.gets - gets).toBe(2);
  });

  it('reports "not on EC2" quickly when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((r) => closed.close(() => r()));
    // The refused connection itself is the answer: no retry loop, no timeout waited for.
    const result = await new ImdsClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 3_600_000 }).identity();
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/^not on EC2: .*unreachable \(ECONNREFUSED\)/);
  });

  it('reports "not on EC2" after the timeout when the address swallows packets', async () => {
    const sockets: Socket[] = [];
    const blackhole = createServer().on('connection', (s) => sockets.push(s));
    blackhole.on('request', () => undefined); // accept, never answer
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    const { port } = blackhole.address() as AddressInfo;
    const result = await new ImdsClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 300 }).identity();
    // The connection was accepted and never answered: only the timeout can have ended the wait.
    expect(sockets.length).toBeGreaterThan(0);
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => blackhole.close(() => r()));
    expect(!result.ok && result.reason).toMatch(/no answer within 300 ms/);
  });
});
