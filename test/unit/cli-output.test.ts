import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { canonicalKind, KIND_NAMES, parseKindFilter, parseKindRef } from '../../src/cli/kind-ref.js';
import { formatData } from '../../src/cli/output.js';
import { filterStatus, renderStatus, type StatusDocument } from '../../src/cli/status-command.js';
import { formatTable } from '../../src/cli/table.js';
import { colorEnabled, outputWidth } from '../../src/cli/terminal.js';
import { kindNames } from '../../src/manifests/kinds/index.js';

const ANSI = /\x1b\[/;
const condition = (type: string, status: 'True' | 'False' | 'Unknown', reason: string, message = '') => ({ type, status, reason, message, lastTransitionTime: '2026-12-01T00:00:00Z' });

const doc: StatusDocument = {
  agent: { instance: 'x', version: '0.1.0' },
  revision: 'abc',
  appliedRevision: 'abc',
  origin: '/m',
  manifests: { ok: true, errors: [], at: '2026-12-01T00:00:00Z' },
  resources: [
    { kind: 'Service', name: 'backend', conditions: [condition('Ready', 'True', 'Running')], details: { state: 'running', restarts: 0 }, updatedAt: '' },
    {
      kind: 'Service',
      name: 'worker',
      conditions: [condition('Ready', 'Unknown', 'Suspended', 'not observed while suspended'), condition('Suspended', 'True', 'Suspended', 'suspended at …')],
      details: { state: 'running', restarts: 2 },
      lastError: { message: 'a very long error message that goes on and on about what went wrong and why it matters', time: '' },
      updatedAt: '',
    },
    { kind: 'Schedule', name: 'vacuum', conditions: [condition('Ready', 'True', 'Scheduled', 'next run at 2026-12-02T03:00:00.000Z')], details: { schedule: '0 3 * * *' }, updatedAt: '' },
  ],
};

describe('kinds on the command line', () => {
  it('names the same kinds as the manifests', () => {
    expect([...KIND_NAMES].sort()).toEqual([...kindNames].sort());
  });

  it('takes any case and gives the agent its spelling', () => {
    expect(canonicalKind('schedule')).toBe('Schedule');
    expect(parseKindRef('SERVICE/backend')).toEqual({ kind: 'Service', name: 'backend' });
    expect(parseKindFilter('backup')).toEqual({ kind: 'Backup' });
    expect(parseKindFilter('certificate/site')).toEqual({ kind: 'Certificate', name: 'site' });
  });

  it('refuses what is not KIND/NAME, naming the kinds', () => {
    expect(() => parseKindRef('schedule')).toThrow(/expected KIND\/NAME/);
    expect(() => parseKindRef('schedule/')).toThrow(/expected KIND\/NAME/);
    expect(() => parseKindRef('pod/x')).toThrow(/unknown kind "pod"; expected one of Service, Network/);
  });
});

describe('tables', () => {
  const rows = [
    ['a', 'short', 'x'.repeat(60)],
    ['b', 'y'.repeat(40), 'z'],
  ];

  it('fit a width by cutting the widest cells, and show everything without one (wide)', () => {
    const fitted = formatTable(['ID', 'NAME', 'MESSAGE'], rows, { width: 40 });
    for (const line of fitted.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(40);
    expect(fitted).toContain('…');
    const wide = formatTable(['ID', 'NAME', 'MESSAGE'], rows);
    expect(wide).toContain('x'.repeat(60));
    expect(wide).toContain('y'.repeat(40));
  });

  it('colour cells only when asked, without changing the alignment', () => {
    const plain = formatTable(['READY', 'NAME'], [['True', 'a'], ['False', 'bb']]);
    const coloured = formatTable(['READY', 'NAME'], [['True', 'a'], ['False', 'bb']], { color: true, colour: (h, t) => (h === 'READY' ? (t === 'True' ? 'green' : 'red') : undefined) });
    expect(plain).not.toMatch(ANSI);
    expect(coloured).toMatch(/\x1b\[32mTrue\x1b\[0m/);
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(plain);
  });
});

describe('terminal', () => {
  it('colours a terminal unless NO_COLOR or TERM=dumb; FORCE_COLOR anywhere', () => {
    expect(colorEnabled({ isTTY: true }, {})).toBe(true);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
    expect(colorEnabled({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
  });

  it('takes the width of a terminal, else $COLUMNS, else none (a pipe gets every cell whole)', () => {
    expect(outputWidth({ isTTY: true, columns: 100 }, {})).toBe(100);
    expect(outputWidth({ isTTY: false }, { COLUMNS: '80' })).toBe(80);
    expect(outputWidth({ isTTY: false }, {})).toBeUndefined();
  });
});

describe('status output', () => {
  it('says which resources are suspended', () => {
    const text = renderStatus(doc);
    expect(text).toMatch(/Service\s+worker\s+Unknown\s+Suspended \(Suspended: not observed while suspended\)/);
    expect(text).toMatch(/Service\s+backend\s+True\s+Running/);
  });

  it('fits an 80-column terminal', () => {
    const text = renderStatus(doc, { width: 80, color: false });
    for (const line of text.split('\n').slice(2)) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('filters by kind or by one resource, and an unknown one is an error', () => {
    expect(filterStatus(doc, { kind: 'Service' }).resources.map((r) => r.name)).toEqual(['backend', 'worker']);
    expect(filterStatus(doc, { kind: 'Schedule', name: 'vacuum' }).resources).toHaveLength(1);
    expect(filterStatus(doc, { kind: 'Alarm' }).resources).toEqual([]);
    expect(() => filterStatus(doc, { kind: 'Service', name: 'nope' })).toThrow('Service/nope is not known to the agent');
  });

  it('prints the same document as JSON and YAML, and text for people', async () => {
    const out = { write: () => true };
    const json = JSON.parse(await formatData('json', doc, () => 'text', out)) as unknown;
    expect(parse(await formatData('yaml', doc, () => 'text', out))).toEqual(json);
    expect(JSON.parse(await formatData('json', doc, () => '', out, true))).toEqual(json);
    expect((await formatData('json', doc, () => '', out, true)).trimEnd()).not.toContain('\n');
    expect(await formatData('text', doc, (view) => `width ${view.width ?? 'all'}`, { write: () => true, isTTY: true, columns: 90 })).toBe('width 90');
    expect(await formatData('wide', doc, (view) => `width ${view.width ?? 'all'}`, { write: () => true, isTTY: true, columns: 90 })).toBe('width all');
  });
});
