import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UNIT_TEXT = readFileSync(join(ROOT, 'agent.service'), 'utf8');

type Unit = Map<string, Map<string, string[]>>;

/** systemd's unit syntax, as much as the checks need: sections, repeated keys, comments, continuations. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1] as string, section);
      return;
    }
    const eq = line.indexOf('=');
    if (!section || eq <= 0) throw new Error(`line ${i + 1}: not a key=value inside a section: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  });
  return unit;
}

const unit = parseUnit(UNIT_TEXT);
const values = (section: string, key: string): string[] => unit.get(section)?.get(key) ?? [];
const value = (section: string, key: string): string | undefined => values(section, key).at(-1);
const words = (section: string, key: string): string[] => values(section, key).flatMap((v) => v.split(/\s+/));

describe('agent.service', () => {
  it('has exactly the Unit, Service and Install sections', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    expect(() => parseUnit('Key=outside\n')).toThrow(/line 1/);
  });

  it('starts after Docker and the network, and requires Docker', () => {
    expect(words('Unit', 'After')).toEqual(expect.arrayContaining(['docker.service', 'network-online.target']));
    expect(words('Unit', 'Requires')).toContain('docker.service');
    expect(words('Unit', 'Wants')).toContain('network-online.target');
    expect(value('Unit', 'StartLimitIntervalSec')).toBe('0');
    expect(value('Install', 'WantedBy')).toBe('multi-user.target');
  });

  it('is a notify service with a watchdog the agent can reach from a child process', () => {
    expect(value('Service', 'Type')).toBe('notify');
    expect(value('Service', 'NotifyAccess')).toBe('all');
    expect(value('Service', 'WatchdogSec')).toMatch(/^\d+s$/);
    expect(value('Service', 'Restart')).toBe('always');
  });

  it('runs the agent with the core CLI flags, its environment files and a private state directory', () => {
    const exec = value('Service', 'ExecStart') ?? '';
    expect(exec).toMatch(/^\/usr\/bin\/env certitrack-agent run /);
    expect(exec).toContain('--manifests /etc/certitrack/manifests');
    expect(exec).toContain('--state-dir /var/lib/certitrack-agent');
    expect(exec).toContain('--secrets-file /etc/certitrack/secrets.env');
    expect(exec).toContain('--listen 127.0.0.1:9464');
    expect(values('Service', 'EnvironmentFile')).toEqual(['-/etc/certitrack/agent.env', '-/etc/certitrack/secrets.env']);
    expect(value('Service', 'StateDirectory')).toBe('certitrack-agent');
    expect(value('Service', 'StateDirectoryMode')).toBe('0700');
  });

  it('is hardened but can still reach the Docker socket and write the nginx certificates', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectKernelLogs: 'yes',
      ProtectControlGroups: 'yes',
      LockPersonality: 'yes',
      RestrictSUIDSGID: 'yes',
      ProtectProc: 'invisible',
      PrivateMounts: 'yes',
      UMask: '0077',
    };
    for (const [key, v] of Object.entries(expected)) expect(value('Service', key), key).toBe(v);
    expect(words('Service', 'RestrictAddressFamilies').sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
    expect(words('Service', 'ReadWritePaths')).toContain('-/opt/certitrack');
    // Neither option may hide /run (where docker.sock lives) or forbid the JIT.
    expect(value('Service', 'InaccessiblePaths')).toBeUndefined();
    expect(value('Service', 'MemoryDenyWriteExecute')).toBeUndefined();
    expect(value('Service', 'PrivateNetwork')).toBeUndefined();
  });

  // systemd-analyze is part of systemd; a machine without it still runs every check above.
  it.runIf(spawnSync('systemd-analyze', ['--version']).status === 0)('passes systemd-analyze verify', () => {
    const dir = mkdtempSync(join(tmpdir(), 'unit-'));
    try {
      const file = join(dir, 'certitrack-agent.service');
      copyFileSync(join(ROOT, 'agent.service'), file);
      const run = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8', timeout: 60_000 });
      // verify exits 0 on many problems it merely logs, so its output about our file is the verdict.
      const ours = `${run.stdout}\n${run.stderr}`.split('\n').filter((l) => l.includes('certitrack-agent.service'));
      expect(ours).toEqual([]);
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('install scripts', () => {
  for (const script of ['scripts/install.sh', 'scripts/uninstall.sh']) {
    it(`${script} is valid bash`, () => {
      expect(() => execFileSync('bash', ['-n', join(ROOT, script)])).not.toThrow();
    });
  }

  it('install.sh installs this unit under the name the docs use, and uninstall.sh removes only that', () => {
    const install = readFileSync(join(ROOT, 'scripts/install.sh'), 'utf8');
    const uninstall = readFileSync(join(ROOT, 'scripts/uninstall.sh'), 'utf8');
    expect(install).toContain('agent.service');
    expect(install).toContain('/etc/systemd/system/certitrack-agent.service');
    expect(uninstall).toContain('disable --now certitrack-agent.service');
    // Data is not the uninstaller's to drop.
    for (const kept of ['docker rm', 'docker volume rm', 'rm -rf /var/lib/certitrack-agent', 'rm -rf /etc/certitrack', 'rm -rf /opt/certitrack']) {
      expect(uninstall).not.toContain(kept);
    }
  });
});
