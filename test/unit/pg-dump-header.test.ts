import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DumpVersionTap, dumpVersionFromHeader } from '../../src/backup/pg-dump-header.js';

// The first bytes of `pg_dump -Fc -Z1` 15.18 (archive 1.14), then the start of its TOC.
const PG15 = Buffer.from(
  '5047444d50010e000408010001000000000c000000000900000000110000000001000000000b000000007e0000000000' +
    '00000000050000006170706462001e00000031352e3138202844656269616e2031352e31382d302b6465623132753129' +
    '001e00000031352e3138202844656269616e2031352e31382d302b64656231327531290005000000000c0d00',
  'hex',
);

/** A 1.15 header (pg_dump 16 on): compression is one byte, not an int. */
function v115(dumpVersion: string): Buffer {
  const int = (n: number): Buffer => Buffer.from([0, n & 0xff, (n >> 8) & 0xff, 0, 0]);
  const str = (s: string): Buffer => Buffer.concat([int(Buffer.byteLength(s)), Buffer.from(s)]);
  return Buffer.concat([Buffer.from('PGDMP'), Buffer.from([1, 15, 0, 4, 8, 1, 1]), ...Array.from({ length: 7 }, () => int(1)), str('appdb'), str('16.4'), str(dumpVersion), Buffer.alloc(40)]);
}

describe('the pg_dump version in a custom-format header', () => {
  it('is read as pg_dump --version words it, from pg_dump 15 and 16 archives', () => {
    expect(dumpVersionFromHeader(PG15)).toBe('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)');
    expect(dumpVersionFromHeader(v115('16.4'))).toBe('pg_dump (PostgreSQL) 16.4');
  });

  it('asks for more while the header is cut short, and gives up on what is not one', () => {
    for (const n of [0, 3, 5, 20, 60, 120]) expect(dumpVersionFromHeader(PG15.subarray(0, n)), `${n} bytes`).toBe('more');
    expect(dumpVersionFromHeader(Buffer.from('-- PostgreSQL database dump\n'))).toBeUndefined();
    expect(dumpVersionFromHeader(Buffer.from('PGDMP\x01\x09\x00'))).toBeUndefined();
  });

  it('is read on the way through a tap that passes every byte on and never ends its output', async () => {
    const got: Buffer[] = [];
    const out = new Writable({ write: (c: Buffer, _e, done) => (got.push(c), done()) });
    const tap = new DumpVersionTap(out);
    const body = Buffer.concat([PG15, Buffer.alloc(100_000, 7)]);
    // Cut into small pieces: the header arrives across several writes.
    const pieces = Array.from({ length: Math.ceil(body.length / 17) }, (_, i) => body.subarray(i * 17, i * 17 + 17));
    await pipeline(Readable.from(pieces), tap);
    expect(tap.version).toBe('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)');
    expect(Buffer.concat(got).equals(body)).toBe(true);
    expect(out.writableEnded).toBe(false);
  });
});
