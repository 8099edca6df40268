import { defineConfig } from 'vitest/config';

// Tests share one kernel: the proc connector sees every suite's processes, and
// core_pattern is global. Files run one at a time; suites that touch core_pattern
// also take the lock in test/support/core-pattern.ts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
