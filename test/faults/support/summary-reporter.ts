import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one line for the whole fault suite (npm run test:faults): cases run, passed, failed and
 * how many containers were changed where none should have been. Worded so that it is not mistaken
 * for the test runner's own closing line.
 */
export default class FaultSummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let run = 0;
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    let expectedFailures = 0;
    let changed = 0;
    for (const mod of testModules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'skipped') {
          skipped++;
          continue;
        }
        run++;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        if (test.options.fails) expectedFailures++;
        changed += test.meta().containersChanged ?? 0;
      }
    }
    process.stdout.write(
      `\nFault-injection summary — cases run: ${run}, passed: ${passed}, failed: ${failed}, skipped: ${skipped}` +
        `, known bugs pinned by it.fails: ${expectedFailures}, containers changed where none should be: ${changed}\n`,
    );
  }
}
