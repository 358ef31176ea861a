import { describe, expect, it } from 'vitest';
import { execQuery, FRAME, frame, FrameReader } from '../../src/server/exec-protocol.js';

describe('the exec session framing', () => {
  it('reads frames split across chunks and several in one chunk, in order', () => {
    const seen: [number, string][] = [];
    const reader = new FrameReader((type, payload) => seen.push([type, payload.toString()]));
    const bytes = Buffer.concat([frame(FRAME.stdout, 'hello '), frame(FRAME.stderr, 'oops'), frame(FRAME.stdout, 'world'), frame(FRAME.exit, '{"exitCode":7}')]);
    for (let i = 0; i < bytes.length; i += 5) reader.push(bytes.subarray(i, i + 5));
    expect(seen).toEqual([
      [FRAME.stdout, 'hello '],
      [FRAME.stderr, 'oops'],
      [FRAME.stdout, 'world'],
      [FRAME.exit, '{"exitCode":7}'],
    ]);
  });

  it("uses Docker's attach header, so a non-TTY exec stream passes through as it is", () => {
    const f = frame(FRAME.stderr, 'ab');
    expect([...f.subarray(0, 8)]).toEqual([2, 0, 0, 0, 0, 0, 0, 2]);
    const empty = frame(FRAME.stdinEnd);
    expect(empty.length).toBe(8);
  });

  it('carries the command as repeated cmd parameters, arguments with spaces intact', () => {
    const q = new URLSearchParams(execQuery(['sh', '-c', 'echo "a b" && exit 3'], { cols: 120, rows: 40 }));
    expect(q.getAll('cmd')).toEqual(['sh', '-c', 'echo "a b" && exit 3']);
    expect([q.get('tty'), q.get('cols'), q.get('rows')]).toEqual(['1', '120', '40']);
    expect(new URLSearchParams(execQuery(['ls'], undefined)).get('tty')).toBeNull();
  });
});
