import type { Condition, StatusBoard } from '../state/status-board.js';

/**
 * A kind's conditions: for each condition type, every reason the code can set and the status that
 * reason means. One reason, one status, so docs/conditions.md can list them as a table, and a test
 * checks the two agree.
 */
export type ConditionTable = Readonly<Record<string, Readonly<Record<string, Exclude<Condition['status'], 'Unknown'>>>>>;

export type ConditionSetter<T extends ConditionTable> = <C extends keyof T & string>(status: StatusBoard, key: string, type: C, reason: keyof T[C] & string, message: string) => void;

/** Sets only conditions and reasons that are in the table; the status follows from the reason. */
export function conditionSetter<T extends ConditionTable>(table: T): ConditionSetter<T> {
  return (status, key, type, reason, message) => status.setCondition(key, type, (table[type] as T[typeof type])[reason] as 'True' | 'False', reason, message);
}
