import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Layers (ARCHITECTURE.md, "Layers"): only the AWS layer (lambdas/aws/) imports the SDK. */
const SDK_ONLY_IN_AWS_LAYER = {
  group: ['@aws-sdk/*', '@smithy/*'],
  message: 'Only the AWS layer (lambdas/aws/) imports the SDK: add a function there and call it.',
};

/** The handler folders: entry points and their flows. Nothing below them imports from them. */
const HANDLER_FOLDERS = ['launch', 'grow', 'reconcile', 'terminate', 'cli'];
const NO_HANDLER_IMPORTS = {
  group: HANDLER_FOLDERS.flatMap((f) => [`../${f}/*`, `../../lambdas/${f}/*`]),
  message:
    'Shared, domain and AWS-layer code does not import a handler folder: move the piece into lambdas/domain/ (pure) or lambdas/aws/.',
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', 'dist/**', 'lib/**', 'coverage/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // Handlers, flows and shared code: no SDK.
    files: ['lambdas/**/*.ts'],
    ignores: ['lambdas/aws/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [SDK_ONLY_IN_AWS_LAYER] }] },
  },
  {
    // The AWS layer: the SDK, but nothing from a handler folder.
    files: ['lambdas/aws/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_HANDLER_IMPORTS] }] },
  },
  {
    // Shared code: neither the SDK nor a handler folder.
    files: ['lambdas/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [SDK_ONLY_IN_AWS_LAYER, NO_HANDLER_IMPORTS] }],
    },
  },
  {
    // The domain: pure (no SDK, no AWS layer, no Powertools), table-testable without a cloud.
    files: ['lambdas/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            SDK_ONLY_IN_AWS_LAYER,
            NO_HANDLER_IMPORTS,
            {
              group: ['../aws/*', '@aws-lambda-powertools/*'],
              message: 'The domain is pure: the flow calls the AWS layer and passes the results in.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'local-cloud/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    files: ['test/**/*.test.ts', 'local-cloud/test/**/*.test.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'describe', property: 'only', message: 'Do not commit .only' },
        { object: 'it', property: 'only', message: 'Do not commit .only' },
        { object: 'test', property: 'only', message: 'Do not commit .only' },
        { object: 'describe', property: 'skip', message: 'Do not commit .skip' },
        { object: 'it', property: 'skip', message: 'Do not commit .skip' },
        { object: 'test', property: 'skip', message: 'Do not commit .skip' },
      ],
    },
  },
);
