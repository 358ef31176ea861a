import type { ApplyInterruption } from '../agent.js';

const list = (keys: readonly string[]): string => (keys.length > 0 ? keys.join(', ') : 'none');

/** What an interrupted `apply` tells its user on stderr: what it let finish, what is done, what is left. */
export function renderInterruption(i: ApplyInterruption): string {
  const inFlight =
    i.inFlight.length > 0
      ? `let the ${i.inFlight.length} reconcile(s) in flight finish (${i.inFlight.join(', ')})`
      : 'nothing was in flight';
  return [
    `apply interrupted by ${i.reason}: ${inFlight} and started nothing new`,
    `done: ${list(i.done)}`,
    `still pending: ${list(i.pending)}`,
    ...(i.pending.length > 0 ? ['run apply again to finish'] : []),
  ].join('\n') + '\n';
}
