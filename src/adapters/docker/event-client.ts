import type Dockerode from 'dockerode';
import { LineSplitter } from '../../util/line-splitter.js';
import type { DockerEvent } from '../docker-types.js';
import { dockerCall } from './docker-call.js';

/** The engine itself: reachability and its event stream. */
export interface EventClient {
  ping(): Promise<void>;
  /** Follows events until `signal` aborts; resolves when the engine closes the stream. */
  stream(filters: Record<string, string[]>, onEvent: (e: DockerEvent) => void, signal: AbortSignal, onOpen?: () => void): Promise<void>;
}

export class DockerodeEventClient implements EventClient {
  constructor(private readonly docker: Dockerode) {}

  async ping(): Promise<void> {
    await dockerCall('ping', () => this.docker.ping());
  }

  async stream(filters: Record<string, string[]>, onEvent: (e: DockerEvent) => void, signal: AbortSignal, onOpen?: () => void): Promise<void> {
    const stream = await dockerCall('subscribe to events', async () => (await this.docker.getEvents({ filters, abortSignal: signal } as object)) as NodeJS.ReadableStream);
    onOpen?.();
    const lines = new LineSplitter((line) => onEvent(parseEvent(line)));
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        (stream as unknown as { destroy?: () => void }).destroy?.();
        resolve();
      };
      signal.addEventListener('abort', finish, { once: true });
      stream.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
      stream.on('end', finish);
      stream.on('error', finish);
      stream.on('close', finish);
    });
  }
}

function parseEvent(line: string): DockerEvent {
  const raw = JSON.parse(line) as { Type?: string; Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> }; time?: number };
  return {
    type: (raw.Type ?? 'container') as DockerEvent['type'],
    action: raw.Action ?? '',
    id: raw.Actor?.ID ?? '',
    labels: raw.Actor?.Attributes ?? {},
    time: new Date((raw.time ?? 0) * 1000),
  };
}
