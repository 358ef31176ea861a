/**
 * Where the CPU of a backup goes: the agent's pipeline into a local directory against a bare
 * `docker exec pg_dump -Fc -Z1 > file`, interleaved, with the CPU each side of the pipe used per
 * sample (the client: the agent's process or the docker CLI; dockerd; containerd and its shims;
 * the database container's cgroup, i.e. pg_dump and its PostgreSQL backend). Wall time on this
 * 2-core VM drifts by tens of percent within minutes; CPU seconds per sample barely move, so this
 * is what shows whether a change to the data path costs or saves anything.
 *
 *   npx tsx bench/backup-profile.ts [--size-mb 300] [--rounds 5] [--keep]
 *
 * The database container (bench-prof-db) is filled once and, with --keep, left for the next run.
 * Needs Docker and the certitrack-test/postgres image (bash scripts/build-images.sh).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_SERVICE, MANAGED_BY_VALUE } from '../src/adapters/docker-types.js';
import { dockerClients } from '../src/adapters/docker/index.js';
import { LocalDestination } from '../src/adapters/local-destination.js';
import { runBackup } from '../src/backup/run-backup.js';
import { prepareSources } from '../src/backup/sources.js';
import { backupSpec } from '../src/manifests/kinds/backup.js';
import { StaticSecrets } from '../src/manifests/secrets.js';
import { Ownership } from '../src/reconcilers/ownership.js';
import { fillDatabase } from './lib/postgres-fill.js';
import { median as medianOf } from './lib/stats.js';

const MiB = 1024 * 1024;
const INSTANCE = 'bench-prof';
const own = new Ownership(INSTANCE);
const CONTAINER = own.dockerName('db');
const docker = dockerClients(new Dockerode());
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};

/** CPU seconds, by who spent them, over one sample. */
interface CpuSplit {
  client: number;
  dockerd: number;
  containerd: number;
  database: number;
  /** Every CPU-second the host spent (all processes, the kernel's included). */
  host: number;
  /** CPU-seconds the hypervisor gave to someone else while this VM wanted them. */
  steal: number;
}

interface Sample {
  variant: string;
  wall: number;
  bytes: number;
  cpu: CpuSplit;
}

const TICK = 100; // USER_HZ on Linux

async function processCpu(names: RegExp): Promise<number> {
  let ticks = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const raw = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const close = raw.lastIndexOf(')');
    if (close < 0 || !names.test(raw.slice(raw.indexOf('(') + 1, close))) continue;
    const fields = raw.slice(close + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICK;
}

async function hostCpu(): Promise<{ host: number; steal: number }> {
  const [cpu] = (await readFile('/proc/stat', 'utf8')).split('\n');
  const f = (cpu ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: everything but idle, iowait and steal is work here.
  return { host: ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0)) / TICK, steal: (f[7] ?? 0) / TICK };
}

async function snapshot(containerId: string): Promise<Omit<CpuSplit, 'client'>> {
  const cg = await readFile(`/sys/fs/cgroup/cpuacct/docker/${containerId}/cpuacct.usage`, 'utf8').then(Number, () => Number.NaN);
  return { dockerd: await processCpu(/^dockerd$/), containerd: await processCpu(/^containerd/), database: cg / 1e9, ...(await hostCpu()) };
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

async function psql(sql: string): Promise<string> {
  return (await run('docker', ['exec', CONTAINER, 'psql', '-v', 'ON_ERROR_STOP=1', '-U', 'app', '-d', 'appdb', '-tAc', sql])).trim();
}

async function ensureDatabase(sizeMb: number): Promise<string> {
  let id = (await docker.containers.inspect(CONTAINER))?.id;
  if (!id) {
    id = await docker.containers.create({
      name: CONTAINER,
      Image: 'certitrack-test/postgres:latest',
      Env: ['POSTGRES_USER=app', 'POSTGRES_PASSWORD=bench', 'POSTGRES_DB=appdb'],
      Labels: { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_INSTANCE]: INSTANCE, [LABEL_SERVICE]: 'db' },
    });
  }
  await docker.containers.start(id);
  for (let i = 0; !(await psql('SELECT 1').then(() => true, () => false)); i++) {
    if (i > 150) throw new Error('postgres did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  await fillDatabase(psql, sizeMb * MiB);
  return id;
}

/** Child: one backup with the agent's pipeline into `dir`; prints wall seconds, CPU seconds and bytes. */
async function childAgent(dir: string): Promise<void> {
  const spec = backupSpec.parse({ sources: [{ postgres: { service: 'db', database: 'appdb', user: 'app' } }] });
  const sources = prepareSources(spec, { docker, own, secrets: new StaticSecrets({}), baseDir: dir, jobKey: 'Backup/profile' });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await runBackup({ name: 'profile', prefix: 'p', destination: new LocalDestination(dir), sources, agentVersion: 'bench', now: () => new Date(), signal: new AbortController().signal });
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({ wall, cpu: (cpu.user + cpu.system) / 1e6, bytes: out.bytes })}\n`);
}

async function sampleAgent(work: string, containerId: string): Promise<Sample> {
  const dir = join(work, 'agent');
  const before = await snapshot(containerId);
  const out = JSON.parse((await run(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child-agent', dir])).trim().split('\n').pop() as string) as { wall: number; cpu: number; bytes: number };
  const after = await snapshot(containerId);
  await rm(dir, { recursive: true, force: true });
  return { variant: 'agent', wall: out.wall, bytes: out.bytes, cpu: split(before, after, out.cpu) };
}

async function sampleBare(work: string, containerId: string): Promise<Sample> {
  const file = join(work, 'bare.dump');
  const times = join(work, 'bare.times');
  const before = await snapshot(containerId);
  await run('bash', ['-o', 'pipefail', '-c', `/usr/bin/time -f '%e %U %S' -o ${times} docker exec ${CONTAINER} pg_dump -Fc -Z1 -U app appdb > ${file}`]);
  const after = await snapshot(containerId);
  const [wall, user, sys] = (await readFile(times, 'utf8')).trim().split(/\s+/).map(Number);
  const bytes = (await stat(file)).size;
  await rm(file);
  return { variant: 'bare', wall: wall ?? 0, bytes, cpu: split(before, after, (user ?? 0) + (sys ?? 0)) };
}

function split(before: Omit<CpuSplit, 'client'>, after: Omit<CpuSplit, 'client'>, client: number): CpuSplit {
  return { client, dockerd: after.dockerd - before.dockerd, containerd: after.containerd - before.containerd, database: after.database - before.database, host: after.host - before.host, steal: after.steal - before.steal };
}

const median = (xs: readonly number[]): number => medianOf(xs) ?? Number.NaN;

async function main(): Promise<void> {
  const rounds = arg('--rounds', 5);
  const containerId = await ensureDatabase(arg('--size-mb', 300));
  const work = await mkdtemp(join(tmpdir(), 'bench-profile-'));
  const samples: Sample[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const pair = [() => sampleAgent(work, containerId), () => sampleBare(work, containerId)];
      for (const take of round % 2 === 0 ? pair : pair.reverse()) {
        await run('sync', []);
        const s = await take();
        samples.push(s);
        const c = s.cpu;
        process.stdout.write(`${s.variant.padEnd(6)} ${s.wall.toFixed(2)} s  ${(s.bytes / MiB).toFixed(1)} MiB  cpu: client ${c.client.toFixed(2)}  dockerd ${c.dockerd.toFixed(2)}  containerd ${c.containerd.toFixed(2)}  db ${c.database.toFixed(2)}  host ${c.host.toFixed(2)}  steal ${c.steal.toFixed(2)}\n`);
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
    if (!process.argv.includes('--keep')) await docker.containers.remove(containerId);
  }
  const of = (v: string): Sample[] => samples.filter((s) => s.variant === v);
  const row = (v: string): string => {
    const s = of(v);
    const m = (f: (x: Sample) => number): string => median(s.map(f)).toFixed(2);
    return `${v.padEnd(6)} wall ${m((x) => x.wall)}  client ${m((x) => x.cpu.client)}  dockerd ${m((x) => x.cpu.dockerd)}  containerd ${m((x) => x.cpu.containerd)}  db ${m((x) => x.cpu.database)}  host ${m((x) => x.cpu.host)}  steal ${m((x) => x.cpu.steal)}`;
  };
  const ratios = of('agent').map((a, i) => (of('bare')[i]?.wall ?? Number.NaN) / a.wall);
  process.stdout.write(`\nmedians of ${rounds}:\n${row('agent')}\n${row('bare')}\nthroughput agent/bare: ratio of medians ${(median(of('bare').map((s) => s.wall)) / median(of('agent').map((s) => s.wall))).toFixed(3)}, median of paired ratios ${median(ratios).toFixed(3)}\n`);
}

(process.argv[2] === '--child-agent' ? childAgent(process.argv[3] as string) : main()).catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
