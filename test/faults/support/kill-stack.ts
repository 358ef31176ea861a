import { doc, idleService, toYaml, webService, type Doc } from '../../helpers/manifests.js';

/** A small deterministic PRNG (mulberry32), so a failing round can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RoundStack {
  yaml: string;
  /** Declared services and the VERSION each container must carry. */
  versions: Map<string, string>;
  networks: string[];
}

type Dep = { service: string; condition: 'started' | 'healthy' };
interface ServiceShape {
  web: boolean;
  /** A web server that exits on SIGTERM (busybox httpd as PID 1 ignores it and waits for SIGKILL). */
  command?: string;
  networks: string[];
  dependsOn: Dep[];
  volumes?: string[];
  /** Only declared in some rounds: adding and removing services is part of the churn. */
  present?: (round: number) => boolean;
}

const SHAPES: Record<string, ServiceShape> = {
  db: { web: true, networks: ['back'], dependsOn: [], volumes: ['data:/data'] },
  cache: { web: true, networks: ['back'], dependsOn: [] },
  api: { web: false, networks: ['back', 'front'], dependsOn: [{ service: 'db', condition: 'healthy' }, { service: 'cache', condition: 'healthy' }] },
  web: { web: true, networks: ['front'], dependsOn: [{ service: 'api', condition: 'started' }] },
  worker: { web: false, networks: ['back'], dependsOn: [{ service: 'db', condition: 'healthy' }] },
  proxy: { web: true, command: 'mkdir -p /www && echo ok > /www/index.html; trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait', networks: ['front'], dependsOn: [{ service: 'web', condition: 'healthy' }], present: (r) => r % 5 !== 3 },
  cron: { web: false, networks: [], dependsOn: [], present: (r) => r % 4 !== 2 },
};

const versions = new Map<string, number>();

/**
 * The stack of a round: a 5-7 service graph (healthy and started dependencies, two networks, a
 * volume) where a random subset of services gets a new spec each round and two services come and go.
 */
export function stackForRound(round: number, random: () => number): RoundStack {
  const names = Object.keys(SHAPES).filter((n) => SHAPES[n]!.present?.(round) ?? true);
  let bumped = 0;
  for (const n of names) {
    if (round === 0 || !versions.has(n) || random() < 0.5) {
      versions.set(n, round);
      bumped++;
    }
  }
  if (bumped === 0) versions.set(names[Math.floor(random() * names.length)]!, round);
  const docs: Doc[] = [doc('Network', 'front'), doc('Network', 'back'), doc('Volume', 'data')];
  const declared = new Map<string, string>();
  for (const n of names) {
    const shape = SHAPES[n]!;
    const version = String(versions.get(n));
    declared.set(n, version);
    const extra = { ...(shape.command ? { command: shape.command } : {}), networks: shape.networks, dependsOn: shape.dependsOn, env: { VERSION: version }, ...(shape.volumes ? { volumes: shape.volumes } : {}) };
    docs.push(doc('Service', n, shape.web ? webService(extra) : idleService(extra)));
  }
  return { yaml: toYaml(docs), versions: declared, networks: ['front', 'back'] };
}
