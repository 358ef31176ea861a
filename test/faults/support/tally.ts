import type { TestContext } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** Set on every fault-injection case, read by the summary reporter. */
    faultCase?: boolean;
    /** Containers a case changed although it had to leave them alone (0 when nothing was touched). */
    containersChanged?: number;
  }
}

/**
 * Counts a file's fault cases so the suite says what it checked, also under plain `npm test`
 * where the summary reporter (npm run test:faults) is not installed.
 */
export class Tally {
  private run = 0;
  private passed = 0;
  private changed = 0;

  constructor(private readonly name: string) {}

  /** Runs one case; the body reports how many containers it found changed before asserting on it. */
  async case(ctx: TestContext, body: (recordChanged: (n: number) => void) => Promise<void>): Promise<void> {
    this.run++;
    ctx.task.meta.faultCase = true;
    ctx.task.meta.containersChanged = 0;
    await body((n) => {
      ctx.task.meta.containersChanged = (ctx.task.meta.containersChanged ?? 0) + n;
      this.changed += n;
    });
    this.passed++;
  }

  line(): string {
    return `[faults] ${this.name}: cases run ${this.run}, passed ${this.passed}, containers changed ${this.changed}`;
  }
}
