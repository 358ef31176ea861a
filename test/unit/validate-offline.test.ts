import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renderValidation, validateFolder, validationReport } from '../../src/cli/validate-command.js';
import type { LoadResult } from '../../src/manifests/load.js';
import { ROOT } from '../helpers/cli.js';
import { removeDir, tempDir } from '../helpers/docker.js';
import { doc, idleService, writeManifest } from '../helpers/manifests.js';

// What a manifests repository's CI has: the files, no secrets file, no build contexts or host
// paths of the host, no AWS. The environment must not lend what CI would not have either.
const CI_ENV: NodeJS.ProcessEnv = {};
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await removeDir(d);
});

async function folder(docs: Parameters<typeof writeManifest>[2]): Promise<string> {
  const dir = await tempDir('offline');
  dirs.push(dir);
  await writeManifest(dir, 'stack.yaml', docs);
  return dir;
}

const messages = (r: LoadResult): string[] => (r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`));

describe('validate --offline', () => {
  it('passes the shipped example and production manifests with no secrets file, host paths or stack outputs', async () => {
    for (const dir of [join(ROOT, 'examples', 'local'), join(ROOT, 'manifests')]) {
      const offline = await validateFolder(dir, { offline: true }, CI_ENV);
      expect(messages(offline), dir).toEqual([]);
      // Online, the same folders need what only the host has.
      expect((await validateFolder(dir, {}, CI_ENV)).ok, dir).toBe(false);
    }
  });

  it('still checks the schema, cross-document rules, relative paths and cron expressions', async () => {
    const dir = await folder([
      doc('Service', 'a', idleService({ dependsOn: ['b'], volumes: ['../outside:/data'] })),
      doc('Service', 'b', idleService({ dependsOn: ['a'], restartPolicy: 'Sometimes' })),
      doc('Schedule', 'c', { schedule: '61 * * * *', exec: { service: 'a', command: 'true' } }),
    ]);
    const text = messages(await validateFolder(dir, { offline: true }, CI_ENV)).join('\n');
    expect(text).toMatch(/restartPolicy/);
    expect(text).toMatch(/invalid schedule "61 \* \* \* \*"/);
    expect(text).toMatch(/outside the manifests folder/);
  });

  it('finds cycles and unknown references between documents', async () => {
    const dir = await folder([doc('Service', 'a', idleService({ dependsOn: ['b'] })), doc('Service', 'b', idleService({ dependsOn: ['a'], networks: ['missing'] }))]);
    const text = messages(await validateFolder(dir, { offline: true }, CI_ENV)).join('\n');
    expect(text).toMatch(/a -> b -> a|b -> a -> b/);
    expect(text).toMatch(/missing/);
  });

  it('takes stack output references on trust, but not malformed ones, and checks them when outputs are given', async () => {
    const backup = (bucket: string) => doc('Backup', 'nightly', { sources: [{ file: { path: '/etc/hostname' } }], destination: { s3: { bucket } } });
    const trusted = await folder([backup('${cfn:BackupBucketName}')]);
    expect(messages(await validateFolder(trusted, { offline: true }, CI_ENV))).toEqual([]);
    const malformed = await folder([backup('${cfn:not-a-name}')]);
    expect(messages(await validateFolder(malformed, { offline: true }, CI_ENV)).join('\n')).toMatch(/malformed CloudFormation reference/);
    const outputsDir = await tempDir('outputs');
    dirs.push(outputsDir);
    const outputs = join(outputsDir, 'stack-outputs.json');
    await writeFile(outputs, JSON.stringify({ BackupBucketName: 'Not_A_Bucket' }));
    expect(messages(await validateFolder(trusted, { offline: true, stackOutputs: outputs }, CI_ENV)).join('\n')).toMatch(/expected an S3 bucket name/);
  });

  it('says what it did not check', async () => {
    const dir = await folder([doc('Service', 'a', idleService({ env: { PASSWORD: { secretRef: 'PASSWORD' } } }))]);
    const report = validationReport(await validateFolder(dir, { offline: true }, CI_ENV), true);
    expect(report).toMatchObject({ ok: true, offline: true, resources: 1 });
    expect(renderValidation(report).stdout).toMatch(/1 resource\(s\) valid; .*\(offline: secrets, build contexts, host paths and stack outputs not checked\)/);
  });
});
