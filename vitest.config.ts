import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Each file starts its own worker threads and sockets; run files one at
    // a time so two suites never compete for the two cores or the fd limit.
    fileParallelism: false,
    pool: 'forks',
    // The test-only fault hooks (src/main/testing.ts) work only with this set.
    env: { FLAMINGO_FAULT_HOOKS: '1' },
  },
});
