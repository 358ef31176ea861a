import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Agent } from '../../src/agent.js';
import { runCli, startCli } from '../helpers/cli.js';
import { cleanupInstance, containersOf, docker, eventually, inspect, removeDir, startTestAgent, tempDir, testInstance } from '../helpers/docker.js';
import { doc, writeManifest } from '../helpers/manifests.js';

// The operator's toolbox against a real agent and engine, through CLI processes as a person
// types them: status filters, formats and watch, kinds in any case, suspend/resume, restart,
// logs -f, exec, and the backup tools through the running agent or directly.
const instance = testInstance('toolbox');
let dir: string;
let stateDir: string;
let agent: Agent;
/** The CLI with this agent's state dir (before `--`, after which everything is the command exec runs). */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}, input?: string) => {
  const end = args.includes('--') ? args.indexOf('--') : args.length;
  return runCli([...args.slice(0, end), '--state-dir', stateDir, ...args.slice(end)], env, undefined, input);
};
const container = () => `${instance}-web`;

async function startAgent(): Promise<void> {
  agent = (await startTestAgent(dir, instance, { stateDir })).agent;
  await agent.run();
  await eventually('web ready', () => agent.notReadyServices().length === 0 && agent.parts.controller.isApplied(), 60_000);
}

beforeAll(async () => {
  dir = await tempDir('toolbox');
  stateDir = await tempDir('toolbox-state');
  await mkdir(join(dir, 'data'));
  await writeFile(join(dir, 'data', 'notes.txt'), 'version 1\n');
  await writeManifest(dir, 'stack.yaml', [
    doc('Service', 'web', {
      image: 'certitrack-test/busybox:latest',
      pullPolicy: 'Never',
      command: 'mkdir -p /www && echo ok > /www/index.html && echo "web started in $(hostname)" && exec httpd -f -p 8080 -h /www',
      init: true,
      healthcheck: { command: 'wget -q -O /dev/null http://127.0.0.1:8080/', interval: '300ms', retries: 2 },
      rollout: { drain: '500ms' },
      stopGracePeriod: '1s',
    }),
    doc('Schedule', 'tick', { schedule: '0 3 * * *', exec: { service: 'web', command: 'echo tick' } }),
    doc('Backup', 'files', { sources: [{ directory: { path: join(dir, 'data') } }], retention: { keepLast: 3 } }),
  ]);
  await startAgent();
});

afterAll(async () => {
  await agent?.stop();
  await cleanupInstance(instance);
  await removeDir(dir);
  await removeDir(stateDir);
});

describe('status', () => {
  it('-o yaml parses as YAML and matches -o json; KIND and KIND/NAME filter in any case', async () => {
    const yaml = await cli(['status', '-o', 'yaml']);
    expect(yaml.code, yaml.stderr).toBe(0);
    const json = await cli(['status', '-o', 'json']);
    expect((parse(yaml.stdout) as { resources: unknown[] }).resources).toHaveLength((JSON.parse(json.stdout) as { resources: unknown[] }).resources.length);
    const one = JSON.parse((await cli(['status', 'SERVICE/web', '-o', 'json'])).stdout) as { resources: { kind: string; name: string }[] };
    expect(one.resources.map((r) => `${r.kind}/${r.name}`)).toEqual(['Service/web']);
    const kind = await cli(['status', 'schedule']);
    expect(kind.stdout).toMatch(/Schedule\s+tick/);
    expect(kind.stdout).not.toMatch(/Service\s+web/);
    const unknown = await cli(['status', 'service/nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('Service/nope is not known to the agent');
  });

  it('refuses an unknown format, and fits the table to the width, colour only where allowed', async () => {
    const bad = await cli(['status', '-o', 'table']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Allowed choices are text, json, yaml, wide/);
    const narrow = await cli(['status'], { COLUMNS: '60' });
    for (const line of narrow.stdout.split('\n').slice(2)) expect(line.length).toBeLessThanOrEqual(60);
    const wide = await cli(['status', '-o', 'wide'], { COLUMNS: '60' });
    expect(Math.max(...wide.stdout.split('\n').map((l) => l.length))).toBeGreaterThan(60);
    expect((await cli(['status'], { FORCE_COLOR: '1' })).stdout).toMatch(/\x1b\[32mTrue/);
    expect((await cli(['status'], { FORCE_COLOR: '1', NO_COLOR: '1' })).stdout).not.toMatch(/\x1b\[/);
  });

  it('cert list, backup list and history take -o too', async () => {
    expect(JSON.parse((await cli(['cert', 'list', '-o', 'json'])).stdout)).toEqual([]);
    const history = parse((await cli(['history', 'web', '-o', 'yaml'])).stdout) as { service: string; result: string }[];
    expect(history[0]).toMatchObject({ service: 'web', result: 'succeeded' });
    expect(parse((await cli(['backup', 'list', 'files', '-o', 'yaml'])).stdout)).toMatchObject({ backups: [] });
  });

  it('-w prints again when something changes and exits 0 on Ctrl-C', async () => {
    const w = startCli(['status', 'service/web', '-w', '--interval', '500ms', '--state-dir', stateDir]);
    await w.waitFor(/Service\s+web\s+True\s+Running/);
    expect((await cli(['suspend', 'service/web'])).code).toBe(0);
    await w.waitFor(/Service\s+web\s+Unknown\s+Suspended/);
    expect((await cli(['resume', 'service/web'])).code).toBe(0);
    await w.waitFor(/Suspended[\s\S]*Service\s+web\s+True\s+Running/);
    const r = await w.stop('SIGINT');
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('kinds in any case', () => {
  it('run-now schedule/tick runs the Schedule', async () => {
    const r = await cli(['run-now', 'schedule/tick']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Schedule\/tick: succeeded \(exit 0\)\ntick/);
  });
});

describe('exec and logs', () => {
  it("exec returns the command's exit code, with its stdout and stderr apart, and passes stdin on", async () => {
    const r = await cli(['exec', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    const cat = await cli(['exec', 'web', '--', 'cat'], {}, 'piped through\n');
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout).toBe('piped through\n');
    const overTcp = await runCli(['exec', 'web', '--listen', `127.0.0.1:${agent.address!.port}`, '--state-dir', stateDir, '--', 'sh', '-c', 'exit 3']);
    expect(overTcp.code, overTcp.stderr).toBe(3);
    const missing = await cli(['exec', 'nope', '--', 'true']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('Service/nope has no container');
  });

  it('logs -f shows a line written after it started, prefixed with the service', async () => {
    const marker = `marker-${Date.now()}`;
    const f = startCli(['logs', '-f', '--tail', '5', 'web', '--state-dir', stateDir]);
    await f.waitFor(/^web \| web started in /m);
    // Written to the container's own stdout (PID 1 is Docker's init with init: true).
    expect((await cli(['exec', 'web', '--', 'sh', '-c', `echo ${marker} > /proc/1/fd/1`])).code).toBe(0);
    await f.waitFor(new RegExp(`^web \\| ${marker}$`, 'm'));
    const r = await f.stop('SIGINT');
    expect(r.code, r.stderr).toBe(0);
    const once = await cli(['logs', 'web', '--since', '1h']);
    expect(once.code).toBe(0);
    expect(once.stdout).toContain(`web | ${marker}`);
  });
});

describe('restart', () => {
  it('replaces the container through a StartFirst rollout: a new container id, the old one gone; logs -f follows onto it', async () => {
    const before = (await inspect(container())).Id;
    const follow = startCli(['logs', '-f', '--tail', '1', 'web', '--state-dir', stateDir]);
    await follow.waitFor(/^web \| /m);
    const r = await cli(['restart', 'web']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Service\/web restarted \(StartFirst, /);
    const after = await inspect(container());
    expect(after.Id).not.toBe(before);
    expect(after.State.Running).toBe(true);
    expect((await containersOf(instance, 'web')).map((c) => c.Id)).toEqual([after.Id]);
    const history = JSON.parse((await cli(['history', 'web', '-o', 'json'])).stdout) as { strategy: string; result: string }[];
    expect(history[0]).toMatchObject({ strategy: 'StartFirst', result: 'succeeded' });
    // The new container's first line, seen while it was the rollout's (named after its spec hash) or after.
    await follow.waitFor(new RegExp(`^web(-[0-9a-f]+)? +\\| web started in ${after.Id.slice(0, 12)}$`, 'm'));
    expect((await follow.stop('SIGINT')).code).toBe(0);
  });
});

describe('suspend and resume', () => {
  it('a suspended service is not healed, also across an agent restart, until it is resumed', async () => {
    const r = await cli(['suspend', 'Service/web']);
    expect(r.code, r.stderr).toBe(0);
    await docker.getContainer(container()).kill();
    // A heal takes well under a second; give the agent several times that to (not) act.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await inspect(container())).State.Running).toBe(false);
    // Persisted: a new agent on the same state dir keeps its hands off too.
    await agent.stop();
    agent = (await startTestAgent(dir, instance, { stateDir })).agent;
    await agent.run();
    await eventually('the new agent applied its snapshot', () => agent.parts.controller.isApplied(), 30_000);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect((await inspect(container())).State.Running).toBe(false);
    const status = JSON.parse((await cli(['status', 'service/web', '-o', 'json'])).stdout) as { resources: { conditions: { type: string; status: string }[] }[] };
    expect(status.resources[0]?.conditions).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Suspended', status: 'True' })]));
    // plan tells the same: the dead container is not something the agent will do anything about.
    const plan = await runCli(['plan', dir, '--state-dir', stateDir, '--instance', instance]);
    expect(plan.stdout).toMatch(/Service\/web: suspended at .*: nothing is done/);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    // Nothing may be started on a suspended resource either.
    const exec = await cli(['restart', 'web']);
    expect(exec.code).toBe(1);
    expect(exec.stderr).toMatch(/Service\/web is suspended; resume it first/);

    expect((await cli(['resume', 'service/web'])).stdout).toBe('Service/web resumed\n');
    await eventually('web healed after resume', async () => (await inspect(container())).State.Running, 30_000);
    await eventually('web ready', () => agent.notReadyServices().length === 0);
  });

  it('a suspended Schedule refuses run-now', async () => {
    expect((await cli(['suspend', 'schedule/tick'])).code).toBe(0);
    const r = await cli(['run-now', 'schedule/tick']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Schedule\/tick is suspended/);
    expect((await cli(['resume', 'schedule/tick'])).code).toBe(0);
    expect((await cli(['run-now', 'schedule/tick'])).code).toBe(0);
  });
});

describe('backups through the running agent, and directly without one', () => {
  let id = '';

  it('backup list and verify go through the agent (no -m needed); restore asks first, then streams progress', async () => {
    const run = await cli(['backup', 'run', 'files']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    id = /backup (\S+) complete/.exec(run.stdout)?.[1] ?? '';
    const list = await cli(['backup', 'list', 'files']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+\\S+\\s+complete`));
    const verify = await cli(['backup', 'verify', 'files']);
    expect(verify.stdout).toContain(`backup ${id}: verified`);

    await writeFile(join(dir, 'data', 'notes.txt'), 'changed\n');
    const refused = await cli(['restore', 'files', id]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/refusing without confirmation: pass --yes/);
    expect(await readFile(join(dir, 'data', 'notes.txt'), 'utf8')).toBe('changed\n');
    const restored = await cli(['restore', 'files', id, '--yes']);
    expect(restored.code, restored.stdout + restored.stderr).toBe(0);
    // Progress streamed from the agent (bytes, rate), then what was restored.
    expect(restored.stdout).toMatch(/\[1\/1\] \S+: restored [\s\S]*backup \S+ restored in /);
    expect(await readFile(join(dir, 'data', 'notes.txt'), 'utf8')).toBe('version 1\n');
  });

  it('with the agent stopped, the same commands work from -m DIR, and say so without it', async () => {
    await agent.stop();
    try {
      // Nothing listens on the socket (gone with the agent) nor on this port: no agent at all.
      const noAgent = { CERTITRACK_LISTEN: '127.0.0.1:1' };
      const direct = await cli(['backup', 'list', 'files', '-m', dir, '--instance', instance, '-o', 'json'], noAgent);
      expect(direct.code, direct.stderr).toBe(0);
      expect((JSON.parse(direct.stdout) as { backups: { id: string }[] }).backups.map((b) => b.id)).toContain(id);
      const without = await cli(['backup', 'list', 'files'], noAgent);
      expect(without.code).toBe(1);
      expect(without.stderr).toMatch(/cannot reach the agent[\s\S]*pass -m DIR/);
    } finally {
      await startAgent();
    }
  });
});

describe('logs of the commands themselves', () => {
  it('apply logs on stderr and prints its result on stdout; only run says AWS features are disabled', async () => {
    const own = testInstance('toolbox-apply');
    const folder = await tempDir('toolbox-apply');
    const state = await tempDir('toolbox-apply-state');
    try {
      await writeManifest(folder, 'net.yaml', [doc('Network', 'only-net')]);
      const env = { LOG_LEVEL: 'info', AWS_REGION: '' };
      const r = await runCli(['apply', folder, '--state-dir', state, '--instance', own], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^applied revision \w+ in [\d.]+s\n$/);
      expect(r.stderr).toContain('"msg":"revision applied"');
      expect(r.stderr).not.toContain('AWS features disabled');
      const daemon = startCli(['run', '-m', folder, '--state-dir', state, '--instance', own, '--listen', '127.0.0.1:0'], env);
      await daemon.waitFor(/agent listening/);
      expect(daemon.stdout()).toContain('AWS features disabled');
      expect((await daemon.stop('SIGTERM')).code).toBe(0);
    } finally {
      await cleanupInstance(own);
      await removeDir(folder);
      await removeDir(state);
    }
  });
});
