// Lint keeps functions small and promises handled (STYLE.md habit 10).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.bench/**', 'charts/**', 'manifests/**', 'crds/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      complexity: ['error', 25],
      'max-params': ['error', 5],
      'no-restricted-syntax': [
        'error',
        {
          selector: "ThrowStatement > NewExpression[callee.name='Error']",
          message: 'Throw a PorticoError (src/errors.ts) with a code, source and retry flag.',
        },
      ],
    },
  },
  {
    // An ESM import of a builtin evaluates every export: node:http's lazy WebSocket getters load node's
    // bundled undici, node:tls and node:http2 (~9 MB per worker) at start-up, and node:crypto costs a
    // worker ~4.5 MB that a plain-HTTP proxy never uses. Types are free; values come from
    // process.getBuiltinModule at the first use (docs/architecture.md).
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        ...['node:http', 'node:https', 'node:http2', 'node:tls', 'node:crypto'].map((name) => ({
          name,
          allowTypeImports: true,
          message: `take ${name} with process.getBuiltinModule: an ESM import loads it (and more) in every worker`,
        })),
      ],
    },
  },
  {
    // Plain JS entry points (the benchmark runs the built dist/) are outside the TS project.
    files: ['**/*.mjs', 'eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['test/**', 'examples/**', 'eslint.config.js'],
    rules: {
      'no-restricted-syntax': 'off',
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
