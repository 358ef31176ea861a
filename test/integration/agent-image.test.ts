import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_VERSION } from '../../src/version.js';
import { ROOT } from '../helpers/cli.js';
import { docker, testInstance } from '../helpers/docker.js';

const IMAGE = `certitrack-agent:${AGENT_VERSION}`;

/** `docker run --rm` of the agent's image under a unique name, so parallel runs never collide. */
function run(args: string[], entrypoint?: string, volumes: string[] = []): string {
  const name = testInstance('agent-image');
  const flags = [...(entrypoint ? ['--entrypoint', entrypoint] : []), ...volumes.flatMap((v) => ['-v', v])];
  return execFileSync('docker', ['run', '--rm', '--name', name, ...flags, IMAGE, ...args], { encoding: 'utf8' }).trim();
}

// scripts/build-images.sh (run by setup) builds it; the Backup CronJobs of `export kubernetes` run it.
describe('the agent image', () => {
  it('exists under its version and latest', async () => {
    const [versioned, latest] = await Promise.all([docker.getImage(IMAGE).inspect(), docker.getImage('certitrack-agent:latest').inspect()]);
    expect(latest.Id).toBe(versioned.Id);
    expect(versioned.Config.User).toBe('10001');
  });

  it('runs certitrack-agent --version in a container', () => {
    expect(run(['--version'])).toBe(AGENT_VERSION);
  });

  it('has the PostgreSQL 15 client tools and a Node.js the agent supports', () => {
    expect(run(['--version'], 'pg_dump')).toMatch(/^pg_dump \(PostgreSQL\) 15\./);
    expect(run(['--version'], 'pg_restore')).toMatch(/^pg_restore \(PostgreSQL\) 15\./);
    const [major, minor] = run(['--version'], 'node').replace(/^v/, '').split('.').map(Number);
    expect((major as number) > 20 || (major === 20 && (minor as number) >= 19)).toBe(true);
  });

  it('runs a command with its production dependencies only (export kubernetes loads its models on use)', () => {
    // A copy anyone may read: the image runs as uid 10001, and a checkout may sit in a 0700 folder (mktemp -d).
    const copy = mkdtempSync(join(tmpdir(), 'agent-image-'));
    cpSync(join(ROOT, 'examples', 'local'), join(copy, 'local'), { recursive: true, dereference: true });
    execFileSync('chmod', ['-R', 'a+rX', copy]);
    let out: string;
    try {
      out = run(['export', 'kubernetes', '/repo/local', '--out', '/tmp/k8s'], undefined, [`${copy}:/repo:ro`]);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
    expect(out).toMatch(/^wrote \d+ object\(s\) in \d+ file\(s\) to \/tmp\/k8s/);
  });
});
