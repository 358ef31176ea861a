import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentHttp01Solver, WebrootHttp01Solver } from '../../src/certificates/http01-solver.js';
import { AcmeResponder } from '../../src/server/acme-responder.js';

const responder = new AcmeResponder();
let server: Server;
let base: string;
let dir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (!responder.handle(req, res)) res.writeHead(418).end('not mine');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'webroot-'));
});
afterAll(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('AcmeResponder', () => {
  it('serves a presented key authorization, 404s unknown tokens and leaves other paths to other handlers', async () => {
    const solver = new AgentHttp01Solver(responder);
    await solver.present('tok_en-1', 'tok_en-1.thumbprint');
    const hit = await fetch(`${base}/.well-known/acme-challenge/tok_en-1`);
    expect(hit.status).toBe(200);
    expect(await hit.text()).toBe('tok_en-1.thumbprint');
    expect((await fetch(`${base}/.well-known/acme-challenge/other`)).status).toBe(404);
    expect((await fetch(`${base}/.well-known/acme-challenge/tok_en-1`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${base}/healthz`)).status).toBe(418);
    await solver.cleanup('tok_en-1');
    expect((await fetch(`${base}/.well-known/acme-challenge/tok_en-1`)).status).toBe(404);
    expect(responder.size).toBe(0);
  });
});

describe('WebrootHttp01Solver', () => {
  it("writes tokens in certbot's layout, readable by nginx's workers, and removes them idempotently", async () => {
    const solver = new WebrootHttp01Solver(dir);
    await solver.present('abc', 'abc.thumb');
    const file = join(dir, '.well-known', 'acme-challenge', 'abc');
    expect(await readFile(file, 'utf8')).toBe('abc.thumb');
    expect((await stat(file)).mode & 0o777).toBe(0o644);
    await solver.cleanup('abc');
    await solver.cleanup('abc');
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
  });

  it('refuses a token that could escape the folder', async () => {
    await expect(new WebrootHttp01Solver(dir).present('../../etc/passwd', 'x')).rejects.toThrow(/base64url/);
  });
});
