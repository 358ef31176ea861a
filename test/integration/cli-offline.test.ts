import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, runCli } from '../helpers/cli.js';
import { removeDir, tempDir } from '../helpers/docker.js';

// The CLI as a manifests repository's CI and a shell use it: no agent, no secrets, no Docker needed.
let dir: string;
const CI = { CERTITRACK_SECRETS_FILE: '', CERTITRACK_STATE_DIR: '' };

beforeAll(async () => {
  dir = await tempDir('cli-offline');
});
afterAll(async () => removeDir(dir));

describe('validate --offline, as the shipped CI workflow runs it', () => {
  it('passes examples/local and manifests/ with no secrets file present', async () => {
    for (const folder of ['examples/local', 'manifests']) {
      const r = await runCli(['validate', '--offline', folder], CI);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/resource\(s\) valid; revision \w+ \(offline: /);
    }
    const workflow = await readFile(join(ROOT, 'examples', 'ci', 'validate.yml'), 'utf8');
    expect((parse(workflow) as { jobs: { validate: { steps: { run?: string }[] } } }).jobs.validate.steps.some((s) => s.run?.includes('validate --offline'))).toBe(true);
  });

  it('-o yaml is YAML, -o json is JSON, an unknown format is an error', async () => {
    const yaml = await runCli(['validate', '--offline', 'examples/local', '-o', 'yaml'], CI);
    expect(yaml.code).toBe(0);
    expect(parse(yaml.stdout)).toMatchObject({ ok: true, offline: true, resources: 11 });
    const json = await runCli(['validate', '--offline', 'examples/local', '-o', 'json'], CI);
    expect(JSON.parse(json.stdout)).toEqual(parse(yaml.stdout));
    const bad = await runCli(['validate', '--offline', 'examples/local', '-o', 'xml'], CI);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/argument 'xml' is invalid\. Allowed choices are text, json, yaml, wide/);
    expect(bad.stdout).toBe('');
  });
});

describe('flags', () => {
  it('schema writes to --out; -o is a format, never a file name', async () => {
    const out = join(dir, 'manifests.schema.json');
    const r = await runCli(['schema', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(await readFile(out, 'utf8'))).toHaveProperty('$schema');
    const refused = await runCli(['schema', '-o', 'json']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/unknown option '-o'/);
  });

  it('an unknown log level is an error naming the valid ones, from the flag or LOG_LEVEL', async () => {
    const flag = await runCli(['plan', 'examples/local', '--log-level', 'verbose']);
    expect(flag.code).toBe(1);
    expect(flag.stderr).toMatch(/Allowed choices are trace, debug, info, warn, error, fatal, silent/);
    await writeFile(join(dir, 'empty.yaml'), '');
    const env = await runCli(['backup', 'list', 'x', '-m', dir, '--state-dir', join(dir, 'state'), '--listen', '127.0.0.1:1'], { LOG_LEVEL: 'verbose' });
    expect(env.code).toBe(1);
    expect(env.stderr).toContain('LOG_LEVEL: "verbose" is not a log level; use one of trace, debug, info, warn, error, fatal, silent');
  });
});

describe('completion', () => {
  /** What bash offers for `words` (the last one being typed), with the script sourced as a user would. */
  const complete = async (script: string, words: string[]): Promise<string[]> => {
    const file = join(dir, 'completion.sh');
    await writeFile(file, script);
    const r = spawnSync('bash', ['-c', `source "$0"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _certitrack_agent; printf '%s\\n' "\${COMPREPLY[@]}"`, file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  };

  it('bash completes commands, subcommands, flags, output formats and kinds', async () => {
    const r = await runCli(['completion', 'bash']);
    expect(r.code, r.stderr).toBe(0);
    expect((await complete(r.stdout, ['certitrack-agent', 're'])).sort()).toEqual(['restart', 'restore', 'resume']);
    expect(await complete(r.stdout, ['certitrack-agent', 'backup', ''])).toEqual(['run', 'list', 'verify']);
    expect(await complete(r.stdout, ['certitrack-agent', 'status', '-o', ''])).toEqual(['text', 'json', 'yaml', 'wide']);
    expect(await complete(r.stdout, ['certitrack-agent', 'suspend', 's'])).toEqual(['service/', 'schedule/']);
    expect(await complete(r.stdout, ['certitrack-agent', 'logs', '--t'])).toEqual(expect.arrayContaining(['--tail', '--timestamps', '--token-file']));
  });

  it('zsh gets the same through bashcompinit; other shells are refused', async () => {
    const zsh = await runCli(['completion', 'zsh']);
    expect(zsh.code).toBe(0);
    expect(zsh.stdout).toMatch(/^#compdef certitrack-agent\n/);
    expect(zsh.stdout).toContain('bashcompinit');
    expect(await complete(zsh.stdout.replace(/^autoload.*$/m, ''), ['certitrack-agent', 'cert', ''])).toEqual(['list', 'renew']);
    const fish = await runCli(['completion', 'fish']);
    expect(fish.code).toBe(1);
    expect(fish.stderr).toMatch(/use bash or zsh/);
  });
});
