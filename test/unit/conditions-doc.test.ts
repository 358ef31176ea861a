import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALARM_CONDITIONS } from '../../src/reconcilers/alarm/conditions.js';
import { CERTIFICATE_CONDITIONS } from '../../src/reconcilers/certificate/conditions.js';
import type { ConditionTable } from '../../src/reconcilers/conditions.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** The `condition | status | reason` rows of the table under `## <kind>` in docs/conditions.md. */
async function documented(kind: string): Promise<string[]> {
  const text = await readFile(join(ROOT, 'docs', 'conditions.md'), 'utf8');
  const section = text.split(/^## /m).find((s) => s.startsWith(`${kind}\n`));
  if (!section) throw new Error(`docs/conditions.md has no "## ${kind}" section`);
  return section
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| condition') && !line.startsWith('| ---'))
    .map((line) => line.split('|').map((cell) => cell.trim()))
    .map(([, type, status, reason]) => `${type} ${status} ${reason}`)
    .sort();
}

const inCode = (table: ConditionTable): string[] =>
  Object.entries(table)
    .flatMap(([type, reasons]) => Object.entries(reasons).map(([reason, status]) => `${type} ${status} ${reason}`))
    .sort();

describe('docs/conditions.md', () => {
  it.each([
    ['Certificate', CERTIFICATE_CONDITIONS, 'certificate'],
    ['Alarm', ALARM_CONDITIONS, 'alarm'],
  ] as const)('lists exactly the %s conditions the code can set', async (kind, table, folder) => {
    expect(await documented(kind)).toEqual(inCode(table));
    // The table is the only way in: no reconciler file sets a condition around it.
    const dir = join(ROOT, 'src', 'reconcilers', folder);
    for (const file of await readdir(dir)) {
      const source = await readFile(join(dir, file), 'utf8');
      expect(source.includes('.setCondition('), `${folder}/${file} calls setCondition directly`).toBe(false);
    }
  });
});
