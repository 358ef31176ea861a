/**
 * The framing of an `exec` session over the agent's upgraded connection, in both directions:
 * Docker's own attach framing (1 byte type, 3 zero bytes, 4-byte big-endian length, payload),
 * so the agent can pass a non-TTY exec stream on as it comes, with a few types of its own for
 * what HTTP cannot carry once upgraded: stdin, its end, the terminal size and the exit code.
 */
export const EXEC_PROTOCOL = 'certitrack-exec';

export const FRAME = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  /** JSON `{"exitCode":N}` or `{"error":"..."}`; the last frame the agent sends. */
  exit: 3,
  /** JSON `{"cols":N,"rows":N}`. */
  resize: 4,
  /** The client's stdin ended: the command's stdin is closed. */
  stdinEnd: 5,
} as const;

const HEADER = 8;

export function frame(type: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(HEADER);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** Whole frames out of a byte stream; a frame split across chunks waits for the rest. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (type: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= HEADER) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < HEADER + size) return;
      const type = this.pending[0] as number;
      const payload = this.pending.subarray(HEADER, HEADER + size);
      this.pending = this.pending.subarray(HEADER + size);
      this.onFrame(type, payload);
    }
  }
}

/**
 * The exec request as a query string: `cmd` repeated in order, `tty=1`, and the terminal's size,
 * which the agent sets as soon as the command starts (Engine API 1.41 takes no size at create).
 */
export function execQuery(cmd: readonly string[], tty: { cols: number; rows: number } | undefined): string {
  const q = new URLSearchParams();
  for (const arg of cmd) q.append('cmd', arg);
  if (tty) {
    q.set('tty', '1');
    q.set('cols', String(tty.cols));
    q.set('rows', String(tty.rows));
  }
  return q.toString();
}
