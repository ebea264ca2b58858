/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/local-cloud'],
  testMatch: ['**/*.test.ts'],
  // Type-checking happens once, in `npm run typecheck`; per-suite checking costs ~15 s each.
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] },
  setupFiles: ['<rootDir>/test/setup-env.ts'],
  testTimeout: 60000,
  // Host-side suites use loop devices and mounts; run suites one at a time on 2 cores.
  maxWorkers: 1,
};
