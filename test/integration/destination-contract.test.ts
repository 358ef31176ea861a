import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDestination } from '../../src/adapters/local-destination.js';
import { createS3Client, S3Destination } from '../../src/adapters/s3-destination.js';
import { type BackupDestination, ListingError, ObjectNotFoundError } from '../../src/backup/destination.js';
import { type RunningS3rver, startS3rver } from '../helpers/s3rver-server.js';

const MiB = 1024 * 1024;

/** `size` bytes of random data in 256 KiB chunks; fails with an error after `failAfter` bytes if given. */
function body(size: number, failAfter?: number): { stream: Readable; sha256: Promise<string> } {
  const hash = createHash('sha256');
  let resolveHash: (h: string) => void = () => undefined;
  const sha256 = new Promise<string>((r) => (resolveHash = r));
  async function* gen(): AsyncGenerator<Buffer> {
    let sent = 0;
    while (sent < size) {
      if (failAfter !== undefined && sent >= failAfter) throw new Error('source failed mid-stream');
      const chunk = randomBytes(Math.min(256 * 1024, size - sent));
      hash.update(chunk);
      sent += chunk.length;
      yield chunk;
    }
    resolveHash(hash.digest('hex'));
  }
  return { stream: Readable.from(gen()), sha256 };
}

async function read(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

interface Subject {
  dest: BackupDestination;
  /** The same kind of destination whose listing cannot succeed. */
  broken: BackupDestination;
  warnings: string[];
}

let s3: RunningS3rver;
const tmpDirs: string[] = [];

beforeAll(async () => {
  s3 = await startS3rver(['contract']);
});
afterAll(async () => {
  await s3?.stop();
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

const subjects: [string, () => Promise<Subject>][] = [
  [
    'local directory',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'dest-contract-'));
      tmpDirs.push(dir);
      await writeFile(join(dir, 'not-a-dir'), 'x');
      return { dest: new LocalDestination(join(dir, 'root')), broken: new LocalDestination(join(dir, 'not-a-dir')), warnings: [] };
    },
  ],
  [
    's3 (s3rver)',
    async () => {
      const client = createS3Client({ endpoint: s3.endpoint, region: 'us-east-1' });
      process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
      process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
      const warnings: string[] = [];
      const prefix = `run-${randomBytes(4).toString('hex')}`;
      const dest = new S3Destination(client, { bucket: 'contract', partSize: 5 * MiB }, (m) => warnings.push(m));
      // Every test gets its own key space inside the shared bucket. (Pagination is tested against a
      // mocked client in test/unit/s3-destination.test.ts: s3rver's continuation tokens use DES,
      // which Node 20's OpenSSL 3 no longer offers, so its second page is a 500.)
      const scoped = scopedDestination(dest, prefix);
      const broken = new S3Destination(client, { bucket: 'no-such-bucket' });
      return { dest: scoped, broken, warnings };
    },
  ],
];

/** Prefixes keys so that tests sharing a bucket cannot see each other's objects. */
function scopedDestination(inner: BackupDestination, prefix: string): BackupDestination {
  return {
    description: `${inner.description}/${prefix}`,
    put: (key, b, o) => inner.put(`${prefix}/${key}`, b, o),
    get: (key) => inner.get(`${prefix}/${key}`),
    list: async (p) => (await inner.list(`${prefix}/${p}`)).map((o) => ({ ...o, key: o.key.slice(prefix.length + 1) })),
    delete: (keys) => inner.delete(keys.map((k) => `${prefix}/${k}`)),
  };
}

describe.each(subjects)('BackupDestination contract: %s', (_name, make) => {
  it('stores and returns a small object byte for byte', async () => {
    const { dest } = await make();
    const b = body(1000);
    const res = await dest.put('b/20260101T000000Z-aaaa/small.bin', b.stream);
    expect(res.bytes).toBe(1000);
    const back = await read(await dest.get('b/20260101T000000Z-aaaa/small.bin'));
    expect(back).toEqual({ sha256: await b.sha256, bytes: 1000 });
    const listed = await dest.list('b/');
    expect(listed.map((o) => [o.key, o.size])).toEqual([['b/20260101T000000Z-aaaa/small.bin', 1000]]);
  });

  it('streams an object larger than one multipart part', async () => {
    const { dest } = await make();
    const b = body(12 * MiB + 123);
    const res = await dest.put('big/obj.bin', b.stream);
    expect(res.bytes).toBe(12 * MiB + 123);
    expect(await read(await dest.get('big/obj.bin'))).toEqual({ sha256: await b.sha256, bytes: 12 * MiB + 123 });
  });

  it('leaves no object behind when the body fails mid-stream', async () => {
    const { dest, warnings } = await make();
    await expect(dest.put('fail/obj.bin', body(12 * MiB, 6 * MiB).stream)).rejects.toThrow(/source failed mid-stream/);
    // s3rver has no AbortMultipartUpload: the failure is reported as a warning, not instead of the real error.
    for (const w of warnings) expect(w).toMatch(/AbortMultipartUpload/);
    await expect(dest.get('fail/obj.bin')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await dest.list('fail/')).toEqual([]);
  });

  it('leaves no object behind when the put is aborted', async () => {
    const { dest } = await make();
    const ac = new AbortController();
    const slow = Readable.from(
      (async function* () {
        yield randomBytes(1024);
        ac.abort();
        await new Promise((r) => setTimeout(r, 50));
        yield randomBytes(1024);
      })(),
    );
    await expect(dest.put('abort/obj.bin', slow, { signal: ac.signal })).rejects.toThrow();
    expect(await dest.list('abort/')).toEqual([]);
  });

  it('lists exactly the keys under a prefix', async () => {
    const { dest } = await make();
    for (const key of ['a/b/1', 'a/b/c/3', 'a/bc/2', 'a/b/4', 'a/b/5', 'x/1']) await dest.put(key, Readable.from([Buffer.from(key)]));
    expect((await dest.list('a/b/')).map((o) => o.key).sort()).toEqual(['a/b/1', 'a/b/4', 'a/b/5', 'a/b/c/3']);
    expect((await dest.list('a/b')).map((o) => o.key).sort()).toEqual(['a/b/1', 'a/b/4', 'a/b/5', 'a/b/c/3', 'a/bc/2']);
    expect(await dest.list('nothing/')).toEqual([]);
    const [first] = await dest.list('x/');
    expect(first?.lastModified.getTime()).toBeGreaterThan(Date.now() - 60_000);
  });

  it('deletes idempotently', async () => {
    const { dest } = await make();
    await dest.put('d/1', Readable.from([Buffer.from('1')]));
    await dest.put('d/2', Readable.from([Buffer.from('2')]));
    await dest.delete(['d/1', 'd/missing']);
    expect((await dest.list('d/')).map((o) => o.key)).toEqual(['d/2']);
    await dest.delete(['d/1', 'd/2']);
    expect(await dest.list('d/')).toEqual([]);
  });

  it('rejects a missing object with ObjectNotFoundError', async () => {
    const { dest } = await make();
    await expect(dest.get('missing/obj')).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it('throws instead of returning a partial listing', async () => {
    const { broken } = await make();
    await expect(broken.list('any/')).rejects.toBeInstanceOf(ListingError);
  });
});
