import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DemuxWritable, FrameSplitter } from '../../src/adapters/demux.js';

const frame = (stream: 1 | 2, payload: string): Buffer => {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
};

/** Feeds `bytes` cut into pieces of `size` and collects what each side received, in order. */
async function demux(bytes: Buffer, size: number, slowStdout = false): Promise<{ out: string; err: string; order: string[] }> {
  let out = '';
  let err = '';
  const order: string[] = [];
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size));
  const sink = new DemuxWritable(
    (c) => {
      out += c.toString();
      order.push(`o:${c.toString()}`);
      return slowStdout ? new Promise((r) => setTimeout(r, 1)) : undefined;
    },
    (c) => {
      err += c.toString();
      order.push(`e:${c.toString()}`);
    },
  );
  await pipeline(Readable.from(pieces), sink);
  return { out, err, order };
}

describe('Docker stream demultiplexing', () => {
  const stream = Buffer.concat([frame(1, 'hello '), frame(2, 'warn1\n'), frame(1, ''), frame(1, 'world'), frame(2, 'warn2\n'), frame(1, '!'.repeat(100))]);

  it('splits stdout from stderr however the bytes are cut: headers and payloads across writes', async () => {
    for (const size of [1, 3, 7, 8, 9, 13, 64, stream.length]) {
      const r = await demux(stream, size);
      expect(r.out, `pieces of ${size}`).toBe(`hello world${'!'.repeat(100)}`);
      expect(r.err, `pieces of ${size}`).toBe('warn1\nwarn2\n');
    }
  });

  it('keeps stdout and stderr in their order, each payload handed on as a view of the chunk', async () => {
    const whole = await demux(stream, stream.length);
    expect(whole.order).toEqual(['o:hello ', 'e:warn1\n', 'o:world', 'e:warn2\n', `o:${'!'.repeat(100)}`]);
    const chunk = Buffer.concat([frame(1, 'ab'), frame(2, 'cd')]);
    const seen: Buffer[] = [];
    new FrameSplitter(
      (c) => void seen.push(c),
      (c) => void seen.push(c),
    ).push(chunk);
    // Views, not copies: a reader that reuses its buffer (exec-stream.ts) must copy what it keeps.
    expect(seen.map((b) => b.buffer === chunk.buffer)).toEqual([true, true]);
  });

  it('waits for a stdout sink that asks to, without losing or reordering anything', async () => {
    const r = await demux(stream, 5, true);
    // Consecutive pieces of one side joined: the interleaving itself.
    const runs: string[] = [];
    for (const x of r.order) {
      const last = runs[runs.length - 1];
      if (last?.[0] === x[0]) runs[runs.length - 1] = last + x.slice(2);
      else runs.push(x);
    }
    expect(runs).toEqual(['o:hello ', 'e:warn1\n', 'o:world', 'e:warn2\n', `o:${'!'.repeat(100)}`]);
  });

  it('tells when a frame was cut short, and hands on every payload of a chunk even while the sink waits', () => {
    const got: string[] = [];
    const splitter = new FrameSplitter(
      (c) => {
        got.push(c.toString());
        return new Promise<void>(() => undefined);
      },
      () => undefined,
    );
    const waiting = splitter.push(Buffer.concat([frame(1, 'one'), frame(1, 'two'), frame(1, 'three').subarray(0, 10)]));
    expect(waiting).toBeInstanceOf(Promise);
    expect(got).toEqual(['one', 'two', 'th']);
    expect(splitter.atFrameBoundary).toBe(false);
    splitter.push(frame(1, 'three').subarray(10));
    expect(splitter.atFrameBoundary).toBe(true);
  });
});
