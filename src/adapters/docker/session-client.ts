import { type Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import { DemuxWritable } from '../demux.js';
import { dockerCall } from './docker-call.js';

/** One line a container wrote, with the engine's own timestamp (what `logs` interleaves by). */
export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 in UTC with all nine digits of nanoseconds, so that times compare as strings. */
  time: string;
  text: string;
}

export interface LogOptions {
  follow: boolean;
  /** The last N lines only (per container). */
  tail?: number;
  /** Only lines written at or after this time. */
  since?: Date;
  signal?: AbortSignal;
}

/** A command started in a container, attached: its raw stream (Docker's multiplexed frames unless `tty`). */
export interface ExecSession {
  readonly stream: Duplex;
  readonly tty: boolean;
  resize(cols: number, rows: number): Promise<void>;
  /** The command's exit code, once its stream has ended. */
  exitCode(): Promise<number>;
}

export interface AttachOptions {
  cmd: string[];
  tty: boolean;
  /** Keep stdin open for the caller to write to. */
  stdin: boolean;
  env?: Record<string, string>;
}

/**
 * What an operator's session with a container needs (`logs`, `exec`): streams that stay open as
 * long as the person watches, unlike the agent's own bounded calls in ContainerClient.
 */
export interface SessionClient {
  /** Every line of the container's log (and, with `follow`, every new one until `signal` aborts or the container goes). */
  logs(id: string, opts: LogOptions, onLine: (line: LogLine) => void): Promise<void>;
  attach(id: string, opts: AttachOptions): Promise<ExecSession>;
}

export class DockerodeSessionClient implements SessionClient {
  constructor(private readonly docker: Dockerode) {}

  async logs(id: string, opts: LogOptions, onLine: (line: LogLine) => void): Promise<void> {
    const container = this.docker.getContainer(id);
    const since = opts.since ? Math.floor(opts.since.getTime() / 1000) : 0;
    const common = { stdout: true, stderr: true, timestamps: true, since, ...(opts.tail !== undefined ? { tail: opts.tail } : {}), ...(opts.signal ? { abortSignal: opts.signal } : {}) };
    const tty = (await dockerCall(`inspect container ${id.slice(0, 12)}`, () => container.inspect())).Config.Tty;
    const source: Readable = opts.follow
      ? toReadable(await dockerCall(`logs of container ${id.slice(0, 12)}`, () => container.logs({ ...common, follow: true })))
      : toReadable(await dockerCall(`logs of container ${id.slice(0, 12)}`, () => container.logs({ ...common, follow: false })));
    const splitters = { stdout: lineSplitter('stdout', onLine), stderr: lineSplitter('stderr', onLine) };
    const sink = tty ? rawSink((chunk) => splitters.stdout(chunk)) : new DemuxWritable((c) => splitters.stdout(c), (c) => splitters.stderr(c));
    try {
      await pipeline(source, sink, ...(opts.signal ? [{ signal: opts.signal }] : []));
    } catch (err) {
      if (!opts.signal?.aborted) throw err;
    }
    splitters.stdout(undefined);
    splitters.stderr(undefined);
  }

  async attach(id: string, opts: AttachOptions): Promise<ExecSession> {
    const container = this.docker.getContainer(id);
    const exec = await dockerCall(`exec in ${id.slice(0, 12)}`, () =>
      container.exec({
        Cmd: opts.cmd,
        AttachStdin: opts.stdin,
        AttachStdout: true,
        AttachStderr: true,
        Tty: opts.tty,
        Env: Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`),
      }),
    );
    const stream = (await dockerCall(`exec ${opts.cmd[0] ?? ''} in ${id.slice(0, 12)}`, () => exec.start({ hijack: true, stdin: opts.stdin, Tty: opts.tty }))) as Duplex;
    return {
      stream,
      tty: opts.tty,
      resize: async (cols, rows) => {
        // A resize before the process exists, or after it ended, changes nothing that matters.
        await dockerCall('resize exec', () => exec.resize({ w: cols, h: rows }), { ok: [400, 404, 409, 500] });
      },
      exitCode: async () => (await dockerCall('inspect exec', () => exec.inspect())).ExitCode ?? -1,
    };
  }
}

/** Whole lines of one stream, split off Docker's leading timestamp; `undefined` flushes a last unterminated line. */
function lineSplitter(stream: LogLine['stream'], onLine: (line: LogLine) => void): (chunk: Buffer | undefined) => void {
  let buffered = '';
  const emit = (raw: string): void => {
    const space = raw.indexOf(' ');
    const time = space > 0 ? sortableTime(raw.slice(0, space)) : '';
    onLine({ stream, time, text: (space > 0 ? raw.slice(space + 1) : raw).replace(/\r$/, '') });
  };
  return (chunk) => {
    if (chunk === undefined) {
      if (buffered !== '') emit(buffered);
      buffered = '';
      return;
    }
    buffered += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      emit(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  };
}

/** Docker drops trailing zeros of the nanoseconds (RFC3339Nano); nine digits always make string order time order. */
function sortableTime(t: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(t);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z` : t;
}

function toReadable(value: Buffer | NodeJS.ReadableStream): Readable {
  return Buffer.isBuffer(value) ? Readable.from([value]) : (value as unknown as Readable);
}

function rawSink(onChunk: (chunk: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      onChunk(chunk);
      done();
    },
  });
}
