import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;

export interface RunningS3rver {
  endpoint: string;
  directory: string;
  stop(): Promise<void>;
}

/**
 * s3rver on 127.0.0.1 and a free port, with `buckets` created. Data lives in a fresh temporary
 * directory (removed on stop), or in `directory` (kept, so a restarted server sees the same objects).
 */
export async function startS3rver(buckets: string[], opts: { directory?: string } = {}): Promise<RunningS3rver> {
  // s3rver is CommonJS without types; loading it through require keeps its shape local to this helper.
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;
  const directory = opts.directory ?? (await mkdtemp(join(tmpdir(), 's3rver-')));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  });
  const addr = await server.run();
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    directory,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      // Keep-alive sockets from the SDK would hold close() open.
      server.httpServer?.closeAllConnections();
      await server.close();
      if (!opts.directory) await rm(directory, { recursive: true, force: true });
    },
  };
}
