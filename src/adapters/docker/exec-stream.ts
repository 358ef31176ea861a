import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChunkBatcher } from '../chunk-batcher.js';
import { FrameSplitter } from '../demux.js';
import type { EngineSocket } from './engine-socket.js';

/** Every read of the exec stream lands in this one buffer (nothing allocated per read). */
const READ_BUFFER_BYTES = 128 * 1024;
/** Output that stops short of a full batch is handed on after this long without more. */
const IDLE_FLUSH_MS = 20;
/** An engine's answer head longer than this is not one. */
const MAX_HEAD_BYTES = 64 * 1024;
/** How much of a refusal's body is kept for its message. */
const MAX_REFUSAL_BYTES = 16 * 1024;

export interface ExecStreamOptions {
  /** Stdout, in batches of up to 1 MiB that are the receiver's to keep; a returned promise makes the process wait. */
  stdout: (chunk: Buffer) => Promise<void> | void;
  /** Stderr, as it comes (the receiver's to keep). */
  stderr: (chunk: Buffer) => void;
  /** Written to the process's stdin, which is then closed. */
  stdin?: Readable;
  signal?: AbortSignal;
}

/** The engine refused to start the exec: its status and message, as dockerode's errors carry them (docker-call.ts). */
class ExecStartError extends Error {
  constructor(
    readonly statusCode: number,
    readonly json: { message: string },
  ) {
    super(`(HTTP code ${statusCode}) ${json.message}`);
  }
}

/**
 * `POST /exec/{id}/start` on a connection of its own, read straight from the socket into one
 * reused buffer (Node's `onread`), demultiplexed there and copied out in 1 MiB batches: resolves
 * when the process's output has ended and everything has been handed on.
 *
 * Why not docker-modem's hijacked stream: a backup's bytes come as ~12,000 reads per 146 MiB, and
 * through a stream each read cost a fresh buffer, stream events and garbage collection: the agent
 * used 1.1-1.3 s of CPU per such dump where the docker CLI used 0.9 s, on a host where pg_dump and
 * PostgreSQL need both cores (bench/backup-profile.ts). Read this way, into pooled slabs
 * (chunk-batcher.ts), the whole backup costs the agent 0.6-0.75 s.
 */
export function attachExec(engine: EngineSocket, execId: string, opts: ExecStreamOptions): Promise<void> {
  return new ExecAttachment(engine, execId, opts).run();
}

class ExecAttachment {
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly batcher: ChunkBatcher;
  private readonly splitter: FrameSplitter;
  private sock: Socket | undefined;
  private phase: 'head' | 'stream' | 'refused' = 'head';
  private head: Buffer[] = [];
  private headBytes = 0;
  private refusal: { status: number; body: Buffer[]; bytes: number; length: number | undefined; chunked: boolean } | undefined;
  /** The sink's latest request to wait; it drains in order, so the latest covers the earlier ones. */
  private waiting: Promise<void> | undefined;
  private waits = 0;
  private idleFlush: NodeJS.Timeout | undefined;
  /** The engine has sent everything: later socket or stdin errors change nothing. */
  private ended = false;
  private settled = false;
  private resolve: () => void = () => undefined;
  private reject: (err: Error) => void = () => undefined;

  constructor(
    private readonly engine: EngineSocket,
    private readonly execId: string,
    private readonly opts: ExecStreamOptions,
  ) {
    this.batcher = new ChunkBatcher(opts.stdout);
    // Stderr views are copied: the read buffer is overwritten by the next read.
    this.splitter = new FrameSplitter(
      (view) => this.batcher.add(view),
      (view) => opts.stderr(Buffer.from(view)),
    );
  }

  run(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      if (this.opts.signal?.aborted) return this.failOnAbort();
      this.opts.signal?.addEventListener('abort', this.failOnAbort, { once: true });
      this.engine
        .dial(this.readBuffer, (view) => this.onRead(view))
        .then((sock) => this.started(sock), (err: unknown) => this.fail(err as Error));
    }).finally(() => this.opts.signal?.removeEventListener('abort', this.failOnAbort));
  }

  private readonly failOnAbort = (): void => this.fail(new Error('aborted'));

  private started(sock: Socket): void {
    this.sock = sock;
    if (this.settled) return void sock.destroy();
    sock.on('error', (err) => {
      if (!this.ended) this.fail(err);
    });
    sock.once('end', () => this.onEnd());
    sock.once('close', () => {
      if (!this.ended) this.fail(new Error('the engine closed the exec stream before it ended'));
    });
    const body = '{"Detach":false,"Tty":false}';
    sock.write(
      `POST ${this.engine.pathPrefix}/exec/${this.execId}/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n${body}`,
    );
  }

  /** One read, a view of the read buffer: everything in it is dealt with (copied, handed on) before it returns. */
  private onRead(view: Buffer): void {
    if (this.settled) return;
    try {
      let rest: Buffer | undefined = view;
      if (this.phase === 'head') rest = this.readHead(view);
      if (!rest || rest.length === 0) return;
      if (this.phase === 'refused') return this.keepRefusal(rest);
      const w = this.splitter.push(rest);
      if (w) this.waitFor(w);
      this.armIdleFlush();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Collects the engine's answer head; returns what follows it once it is complete. */
  private readHead(view: Buffer): Buffer | undefined {
    this.head.push(Buffer.from(view));
    this.headBytes += view.length;
    const all = Buffer.concat(this.head, this.headBytes);
    const end = all.indexOf('\r\n\r\n');
    if (end < 0) {
      if (this.headBytes > MAX_HEAD_BYTES) throw new Error('the engine answered the exec start with no end to its headers');
      return undefined;
    }
    this.head = [];
    const text = all.subarray(0, end).toString('latin1');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? Number.NaN);
    const rest = all.subarray(end + 4);
    // 101 after the upgrade; engines before API 1.42-ish answer 200 and stream all the same.
    if (status === 101 || status === 200) {
      this.phase = 'stream';
      this.feedStdin();
      return rest;
    }
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(text)?.[1];
    this.phase = 'refused';
    this.refusal = { status: Number.isNaN(status) ? 0 : status, body: [], bytes: 0, length: length === undefined ? undefined : Number(length), chunked: /\r\ntransfer-encoding:\s*chunked/i.test(text) };
    this.keepRefusal(rest);
    return undefined;
  }

  private keepRefusal(bytes: Buffer): void {
    const r = this.refusal;
    if (!r) return;
    if (r.bytes < MAX_REFUSAL_BYTES) {
      r.body.push(Buffer.from(bytes));
      r.bytes += bytes.length;
    }
    const body = Buffer.concat(r.body, r.bytes).toString('utf8');
    const complete = r.length !== undefined ? r.bytes >= r.length : r.chunked ? /(^|\r\n)0\r\n\r\n$/.test(body) : false;
    if (complete || r.bytes >= MAX_REFUSAL_BYTES) this.refuse();
  }

  /** Fails with the engine's own message (a keep-alive connection after a refusal: closed here). */
  private refuse(): void {
    const r = this.refusal;
    if (!r) return;
    const body = Buffer.concat(r.body, r.bytes).toString('utf8');
    const message = /"message"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(body)?.[1];
    const text = message !== undefined ? (JSON.parse(`"${message}"`) as string) : body.trim() || `the engine answered HTTP ${r.status}`;
    this.fail(new ExecStartError(r.status, { message: text }));
  }

  private feedStdin(): void {
    const { stdin } = this.opts;
    const sock = this.sock;
    if (!stdin || !sock) return;
    // Ending the socket's writable side is what closes the process's stdin. A failure of the
    // source stops the exec; one after the output has ended (the process exited early) is moot.
    pipeline(stdin, sock).catch((err: unknown) => {
      if (!this.ended) this.fail(err as Error);
    });
  }

  /**
   * Output that stops short of a full batch goes on once nothing more has come for a moment (the
   * timer starts again at every read): a steady stream is handed on in whole slabs, which the
   * destination gives back to the pool, and a process that prints a line and waits is not held up.
   */
  private armIdleFlush(): void {
    if (this.batcher.pending === 0) return;
    if (this.idleFlush) this.idleFlush.refresh();
    else
      this.idleFlush = setTimeout(() => {
        // Not idle while the sink is draining: the bytes wait for the next read or the end.
        if (this.waits > 0 || this.settled) return;
        const f = this.batcher.flush();
        if (f) this.waitFor(f);
      }, IDLE_FLUSH_MS);
  }

  private waitFor(w: Promise<void>): void {
    this.waits++;
    this.waiting = w;
    this.sock?.pause();
    w.then(
      () => {
        if (--this.waits > 0 || this.settled) return;
        this.sock?.resume();
        this.armIdleFlush();
      },
      (err: unknown) => this.fail(err as Error),
    );
  }

  private onEnd(): void {
    if (this.settled) return;
    if (this.phase === 'refused') return this.refuse();
    if (this.phase === 'head') return this.fail(new Error('the engine closed the exec stream without answering'));
    this.ended = true;
    clearTimeout(this.idleFlush);
    if (!this.splitter.atFrameBoundary) return this.fail(new Error('the exec stream ended in the middle of a frame'));
    const last = this.batcher.flush();
    Promise.all([this.waiting, last]).then(
      () => this.settle(),
      (err: unknown) => this.fail(err as Error),
    );
  }

  /** Ends the attachment once: the connection goes either way (after the output's end there is nothing left on it). */
  private settle(err?: Error): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.idleFlush);
    this.batcher.close();
    this.sock?.destroy();
    if (err) this.reject(err);
    else this.resolve();
  }

  private fail(err: Error): void {
    this.settle(err);
  }
}
