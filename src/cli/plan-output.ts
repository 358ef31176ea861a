import { isChange, type FieldChange, type PlannedAction } from '../engine/reconcile.js';
import { type Colour, paint, type TextView } from './terminal.js';

const SIGN: Record<PlannedAction['action'], string> = {
  create: '+',
  recreate: '-/+',
  update: '~',
  start: '>',
  restart: '~',
  remove: '-',
  build: '+',
  pull: '+',
  reload: '~',
  run: '>',
  issue: '+',
  wait: '…',
  note: '#',
};

/** terraform's colours: green adds, red removes, yellow changes in place. */
const COLOUR: Record<PlannedAction['action'], Colour> = {
  create: 'green',
  recreate: 'red',
  update: 'yellow',
  start: 'green',
  restart: 'yellow',
  remove: 'red',
  build: 'green',
  pull: 'green',
  reload: 'yellow',
  run: 'green',
  issue: 'green',
  wait: 'cyan',
  note: 'dim',
};

/** `spec.env.MODE: "one" → "two"`; a secret shows only that it changed. */
export function formatChange(c: FieldChange): string {
  if (c.secret) return `${c.path}: (secret changed)`;
  if (c.from === undefined) return `${c.path}: (unset) → ${c.to ?? '(unset)'}`;
  return `${c.path}: ${c.from} → ${c.to ?? '(unset)'}`;
}

/**
 * `certitrack-agent plan` as text, terraform-style: one line per action, the changed fields under
 * it, notes (things that will not happen) after, and a count of everything that will happen.
 */
export function renderPlan(actions: readonly PlannedAction[], view: Pick<TextView, 'color'> = { color: false }): string {
  const changes = actions.filter(isChange);
  const notes = actions.filter((a) => !isChange(a));
  const lines: string[] = [];
  if (changes.length === 0) lines.push('No changes. Reality matches the manifests.');
  const width = Math.max(0, ...changes.map((a) => `${a.kind}/${a.name}`.length));
  for (const a of changes) {
    lines.push(`${paint(view, COLOUR[a.action], SIGN[a.action].padStart(3))} ${`${a.kind}/${a.name}`.padEnd(width)}  ${paint(view, COLOUR[a.action], a.action)}: ${a.reason}`);
    for (const c of a.changes ?? []) lines.push(`        ${formatChange(c)}`);
  }
  if (notes.length > 0) {
    lines.push('', 'Notes (nothing will be done):');
    for (const a of notes) lines.push(`  ${a.kind}/${a.name}: ${a.reason}`);
  }
  if (changes.length > 0) lines.push('', `Plan: ${changes.length} change(s).`);
  return lines.join('\n') + '\n';
}
