import { LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY_VALUE } from '../adapters/docker-types.js';

/**
 * How the agent names and recognises what it owns. Every Docker object it creates is named
 * `<instance>-<name>` and carries the managed-by and instance labels; it acts only on objects that
 * carry both, so other containers on the host (and other agents' or test runs') are never touched.
 */
export class Ownership {
  constructor(readonly instance: string) {}

  dockerName(name: string): string {
    return `${this.instance}-${name}`;
  }

  /** Labels that select everything this agent instance owns. */
  selector(extra: Record<string, string> = {}): Record<string, string> {
    return { [LABEL_MANAGED_BY]: MANAGED_BY_VALUE, [LABEL_INSTANCE]: this.instance, ...extra };
  }

  owns(labels: Record<string, string> | undefined): boolean {
    return labels?.[LABEL_MANAGED_BY] === MANAGED_BY_VALUE && labels[LABEL_INSTANCE] === this.instance;
  }
}
