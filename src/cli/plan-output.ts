import { isChange, type FieldChange, type PlannedAction } from '../engine/reconcile.js';

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
export function renderPlan(actions: readonly PlannedAction[]): string {
  const changes = actions.filter(isChange);
  const notes = actions.filter((a) => !isChange(a));
  const lines: string[] = [];
  if (changes.length === 0) lines.push('No changes. Reality matches the manifests.');
  const width = Math.max(0, ...changes.map((a) => `${a.kind}/${a.name}`.length));
  for (const a of changes) {
    lines.push(`${SIGN[a.action].padStart(3)} ${`${a.kind}/${a.name}`.padEnd(width)}  ${a.action}: ${a.reason}`);
    for (const c of a.changes ?? []) lines.push(`        ${formatChange(c)}`);
  }
  if (notes.length > 0) {
    lines.push('', 'Notes (nothing will be done):');
    for (const a of notes) lines.push(`  ${a.kind}/${a.name}: ${a.reason}`);
  }
  if (changes.length > 0) lines.push('', `Plan: ${changes.length} change(s).`);
  return lines.join('\n') + '\n';
}
