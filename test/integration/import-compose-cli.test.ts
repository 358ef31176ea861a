import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { removeDir, tempDir } from '../helpers/docker.js';

// `import-compose` as a user runs it: --out, the exit codes (0 / 3 / 1), --profile and --force.
let dir: string;
const out = (): string => join(dir, 'manifests');
const compose = `
services:
  web:
    image: busybox
    restart: unless-stopped
    expose: ["8080"]
  adminer:
    image: busybox
    profiles: [debug]
`;

beforeAll(async () => {
  dir = await tempDir('import-cli');
  writeFileSync(join(dir, 'docker-compose.yml'), compose);
});
afterAll(() => removeDir(dir));

const importCompose = (...flags: string[]) => runCli(['import-compose', join(dir, 'docker-compose.yml'), '--out', out(), ...flags]);

describe('certitrack-agent import-compose', () => {
  it('exits 0 when everything translated, leaving out services of unselected profiles', async () => {
    const r = await importCompose();
    expect(r.stderr).toContain('note: service "adminer": not imported: it is in profile debug');
    expect(r.stderr).not.toContain('warning:');
    expect(r.stdout).toContain(`wrote 2 file(s) to ${out()}`);
    expect(r.code).toBe(0);
    expect(existsSync(join(out(), 'web.yaml'))).toBe(true);
    expect(existsSync(join(out(), 'adminer.yaml'))).toBe(false);
    const validate = await runCli(['validate', out()]);
    expect(validate.stderr + validate.stdout).not.toMatch(/error/i);
    expect(validate.code).toBe(0);
  });

  it('never overwrites a file without --force: exit 1 naming it, and nothing written', async () => {
    writeFileSync(join(out(), 'web.yaml'), '# edited by hand\n');
    const r = await importCompose('--profile', 'debug');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: ${join(out(), 'web.yaml')}, ${join(out(), 'networks.yaml')} already exist; nothing was written (--force overwrites)`);
    expect(readFileSync(join(out(), 'web.yaml'), 'utf8')).toBe('# edited by hand\n');
    expect(existsSync(join(out(), 'adminer.yaml'))).toBe(false);
  });

  it('with --force and --profile overwrites, imports the profile, and exits 3 listing what did not translate', async () => {
    const r = await importCompose('--profile', 'debug', '--force');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('warning: service "adminer": restart: not set');
    expect(r.stderr).toContain('1 thing(s) not translated exactly');
    expect(readFileSync(join(out(), 'web.yaml'), 'utf8')).toContain('kind: Service');
    expect(readFileSync(join(out(), 'adminer.yaml'), 'utf8')).toContain('restartPolicy: Never');
  });

  it('takes the destination as --out only: -o means an output format elsewhere', async () => {
    const r = await runCli(['import-compose', join(dir, 'docker-compose.yml'), '--out', join(dir, 'other'), '-o', 'yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown option '-o'/);
    expect(existsSync(join(dir, 'other'))).toBe(false);
  });
});
