import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';

export interface Doc {
  kind: string;
  name: string;
  spec?: Record<string, unknown>;
}

export const doc = (kind: string, name: string, spec?: Record<string, unknown>): Doc => ({ kind, name, spec });

export function toYaml(docs: Doc[]): string {
  return docs
    .map((d) => stringify({ apiVersion: 'certitrack.io/v1', kind: d.kind, metadata: { name: d.name }, ...(d.spec ? { spec: d.spec } : {}) }))
    .join('---\n');
}

export async function writeManifest(dir: string, file: string, docs: Doc[] | string): Promise<string> {
  const path = join(dir, file);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, typeof docs === 'string' ? docs : toYaml(docs));
  return path;
}

/** A busybox web server that answers on :8080 and, unless told otherwise, is healthy. */
export function webService(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    image: 'certitrack-test/busybox:latest',
    pullPolicy: 'Never',
    command: 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www',
    healthcheck: { http: { port: 8080, path: '/' }, interval: '500ms', timeout: '2s', retries: 2 },
    stopGracePeriod: '1s',
    ...extra,
  };
}

/** A busybox process that idles until stopped (answers SIGTERM at once). */
export function idleService(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    image: 'certitrack-test/busybox:latest',
    pullPolicy: 'Never',
    command: 'trap "exit 0" TERM; while true; do sleep 1; done',
    stopGracePeriod: '1s',
    ...extra,
  };
}
