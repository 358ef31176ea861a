import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent, ManifestLoadState } from '../../src/agent.js';
import { loadManifests, MAX_FILE_BYTES, MAX_TOTAL_BYTES } from '../../src/manifests/load.js';
import { StaticSecrets } from '../../src/manifests/secrets.js';
import { formatManifestError } from '../../src/manifests/source.js';
import { cleanupInstance, eventually, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { doc, idleService, webService, writeManifest } from '../helpers/manifests.js';
import { changedContainers, markContainers, type ContainerMark } from './support/snapshot.js';
import { Tally } from './support/tally.js';

// Issue 7: every bad manifest in the corpus, dropped into a running agent's folder one at a time,
// is rejected with a message naming the file and line, and not one container is touched.
const CORPUS = join(import.meta.dirname, 'corpus');
const instance = testInstance('corpus');
const tally = new Tally('bad-manifest corpus');
let dir: string;
let agent: Agent;
let baseline: ContainerMark[];

interface CorpusCase {
  file: string;
  expect: string;
  line: number | undefined;
  /** A gap the loader has today: the case is pinned with it.fails until src/ rejects it. */
  knownGap: string | undefined;
}

async function readCorpus(): Promise<CorpusCase[]> {
  const out: CorpusCase[] = [];
  for (const file of (await readdir(CORPUS)).filter((f) => f.endsWith('.yaml')).sort()) {
    // latin1: binary junk files still have a readable first line.
    const head = (await readFile(join(CORPUS, file), 'latin1')).split('\n', 4);
    const expectLine = /^# expect: (.+)$/.exec(head[0] ?? '');
    if (!expectLine) throw new Error(`${file}: the first line must be "# expect: <message fragment>"`);
    const line = head.map((l) => /^# line: (\d+)$/.exec(l)?.[1]).find(Boolean);
    const gap = head.map((l) => /^# known-gap: (.+)$/.exec(l)?.[1]).find(Boolean);
    out.push({ file, expect: expectLine[1]!.trim(), line: line ? Number(line) : undefined, knownGap: gap });
  }
  return out;
}

// Collected at import time so that each file becomes its own test case.
const corpus = await readCorpus();
const TEN_MB = '10mb-file.yaml';

beforeAll(async () => {
  dir = await tempDir('corpus');
  await writeManifest(dir, '00-base.yaml', [
    doc('Network', 'app'),
    doc('Volume', 'data'),
    doc('Service', 'web', webService({ networks: ['app'] })),
    doc('Service', 'worker', idleService({ networks: ['app'], volumes: ['data:/data'], dependsOn: [{ service: 'web', condition: 'healthy' }] })),
  ]);
  const t = await startTestAgent(dir, instance);
  agent = t.agent;
  await agent.run();
  await eventually('base stack ready', () => agent.parts.controller.isApplied() && agent.notReadyServices().length === 0, 60_000);
  baseline = await markContainers(instance);
  expect(baseline.map((m) => `${m.service}:${m.state}`)).toEqual(['web:running', 'worker:running']);
});

afterAll(async () => {
  console.log(tally.line());
  await agent?.stop();
  await cleanupInstance(instance);
  if (dir) await removeDir(dir);
});

/** Waits for the watcher to load the folder again after `since` and returns that load's result. */
async function nextLoad(since: string, what: string, ok: boolean): Promise<ManifestLoadState> {
  return eventually(what, () => {
    const l = agent.lastLoad;
    return l && l.at > since && l.ok === ok ? l : undefined;
  }, 15_000, 25);
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Drops one file into the running agent's folder, checks the rejection, takes it out again. */
async function rejectOne(file: string, write: (path: string) => Promise<void>, expectText: string, line: number | undefined, record: (n: number) => void): Promise<void> {
  const before = await markContainers(instance);
  const since = new Date().toISOString();
  await write(join(dir, file));
  const rejected = await nextLoad(since, `${file} rejected`, false).finally(async () => {
    // Whatever happened, the folder goes back to the good state before the next case.
    const back = new Date().toISOString();
    await rm(join(dir, file), { force: true });
    await nextLoad(back, 'the good folder accepted again', true);
  });
  const after = await markContainers(instance);
  const changed = changedContainers(before, after);
  record(changed.length);
  const mine = rejected.errors.filter((e) => new RegExp(`(^|/)${escape(file)}:\\d+:\\d+: `).test(e));
  expect(mine, `no error names ${file}; got:\n${rejected.errors.join('\n')}`).not.toEqual([]);
  const wanted = new RegExp(`(^|/)${escape(file)}:${line ?? '\\d+'}:\\d+: .*${escape(expectText)}`);
  expect(mine.some((e) => wanted.test(e)), `expected "${expectText}" at ${file}:${line ?? '?'}; got:\n${mine.join('\n')}`).toBe(true);
  expect(changed, 'containers touched by a rejected change').toEqual([]);
}

describe('bad manifests, one at a time, into a running agent', () => {
  it('has a corpus of at least 30 files, each stating what it expects', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(30);
  });

  for (const c of corpus.filter((c) => !c.knownGap)) {
    it(`rejects ${c.file}`, async (ctx) => {
      await tally.case(ctx, (record) => rejectOne(c.file, (path) => copyFile(join(CORPUS, c.file), path), c.expect, c.line, record));
    });
  }

  it(`rejects a file over ${MAX_FILE_BYTES} bytes (10 MB, generated)`, async (ctx) => {
    await tally.case(ctx, (record) =>
      rejectOne(
        TEN_MB,
        async (path) => {
          // Valid YAML all the way through, so only the size can be the reason.
          const line = '# padding padding padding padding padding padding padding padding padding\n';
          await writeFile(path, `apiVersion: certitrack.io/v1\nkind: Network\nmetadata: { name: huge }\n${line.repeat(Math.ceil((10 * 1024 * 1024) / line.length))}`);
        },
        `manifests are limited to ${MAX_FILE_BYTES} bytes`,
        1,
        record,
      ),
    );
  });

  // What a folder can hold besides files: links out of it and special files, refused unread.
  const specials: [string, (path: string) => Promise<void>, string][] = [
    ['link-to-shadow.yaml', (p) => symlink('/etc/shadow', p), 'is a symbolic link to /etc/shadow, outside the manifests folder; not read'],
    ['link-to-dev-zero.yaml', (p) => symlink('/dev/zero', p), 'is a symbolic link to /dev/zero, outside the manifests folder; not read'],
    ['fifo.yaml', async (p) => void execFileSync('mkfifo', [p]), 'is a FIFO, not a regular file; not read'],
    ['dangling-link.yaml', (p) => symlink(join(dir, 'nowhere'), p), 'file disappeared while the folder was being read'],
  ];
  for (const [file, write, message] of specials) {
    it(`rejects ${file} without reading it`, async (ctx) => {
      await tally.case(ctx, (record) => rejectOne(file, write, message, 1, record));
    });
  }

  it('rejects a file in a subfolder as well', async (ctx) => {
    await tally.case(ctx, (record) =>
      rejectOne(
        'nested/deeper/cycle.yaml',
        async (path) => {
          await mkdir(join(dir, 'nested', 'deeper'), { recursive: true });
          await copyFile(join(CORPUS, 'dependency-cycle.yaml'), path);
        },
        'dependency cycle',
        8,
        record,
      ),
    );
  });

  it('left every container exactly as it was, and the stack still ready', async () => {
    expect(changedContainers(baseline, await markContainers(instance))).toEqual([]);
    expect(agent.notReadyServices()).toEqual([]);
  });
});

/** The loader on its own (validate's code path), with the same base stack as the running agent. */
async function loadWithBase(file: string): Promise<string[] | 'accepted'> {
  const d = await tempDir('corpus-gap');
  try {
    await writeManifest(d, '00-base.yaml', [doc('Network', 'app'), doc('Service', 'web', webService({ networks: ['app'] }))]);
    await copyFile(join(CORPUS, file), join(d, file));
    const r = await loadManifests(d, { secrets: new StaticSecrets({}), displayBase: d });
    return r.ok ? 'accepted' : r.errors.map(formatManifestError);
  } finally {
    await removeDir(d);
  }
}

describe('the loader on its own', () => {
  it(`refuses a folder over ${MAX_TOTAL_BYTES / 1024 / 1024} MiB in total, each file under the per-file cap, counting while reading`, async () => {
    const d = await tempDir('corpus-total');
    try {
      const line = '# padding padding padding padding padding padding padding padding padding\n';
      const body = line.repeat(Math.floor((MAX_FILE_BYTES - 100) / line.length));
      for (let i = 0; i < 21; i++) await writeFile(join(d, `${String(i).padStart(2, '0')}.yaml`), body);
      const r = await loadManifests(d, { secrets: new StaticSecrets({}), displayBase: d });
      const errors = r.ok ? [] : r.errors.map(formatManifestError);
      expect(errors).toEqual([expect.stringMatching(new RegExp(`^20\\.yaml:1:1: not read: the folder's manifests exceed ${MAX_TOTAL_BYTES / 1024 / 1024} MiB in total$`))]);
    } finally {
      await removeDir(d);
    }
  });

  // Found by this suite (zod 4 leaves issue.input unset, so every wrong type read "required field
  // missing"); fixed in src/manifests/load.ts, kept as a regression test.
  it('says a present field of the wrong type has the wrong type, not that it is missing', async () => {
    const result = await loadWithBase('wrong-type-image-number.yaml');
    expect(result).not.toBe('accepted');
    const line = (result as string[]).find((e) => e.includes('spec.image'));
    expect(line).toMatch(/spec\.image: expected string, got number 42/);
    expect(line).not.toMatch(/required field missing/);
  });

  // Files marked "# known-gap:" are accepted by the loader today: pinned with it.fails (and never
  // handed to the running agent) until src/ rejects them. None at the moment.
  for (const c of corpus.filter((c) => c.knownGap)) {
    // A loader bug, described by the file's "# known-gap:" line.
    it.fails(`rejects ${c.file} — known gap: ${c.knownGap}`, async () => {
      const result = await loadWithBase(c.file);
      expect(result, `${c.file} was accepted`).not.toBe('accepted');
      expect((result as string[]).some((e) => e.startsWith(`${c.file}:${c.line ?? ''}`) && e.includes(c.expect))).toBe(true);
    });
  }
});
