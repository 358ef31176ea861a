import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Integration tests wait on a real engine, real servers and real timers.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
    // No test may send a packet to the EC2 metadata address; the SDK's credential chain would.
    env: { TESTCONTAINERS_RYUK_DISABLED: 'true', AWS_EC2_METADATA_DISABLED: 'true' },
    reporters: ['default'],
  },
});
