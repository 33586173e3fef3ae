import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/** What workflow code may not import: it is replayed, so it touches no file, clock, network or process. */
const NOT_IN_WORKFLOWS = [
  {
    group: [
      'node:*',
      'fs',
      'fs/*',
      'path',
      'os',
      'crypto',
      'child_process',
      'worker_threads',
      'net',
      'http',
      'https',
      'stream',
      'url',
      'util',
    ],
    message: 'workflow code is replayed deterministically: no Node built-ins (use activities)',
  },
  {
    group: [
      'sharp',
      'onnxruntime-node',
      '@duckdb/*',
      'hyparquet*',
      '@temporalio/client',
      '@temporalio/worker',
      '@temporalio/activity',
    ],
    message: 'workflow code orders activities; it never loads models, images, files or clients',
  },
];

/**
 * What each folder of lib/ may import from lib/ besides itself: foundations first, then the
 * pipeline's stages in their order (a stage may use an earlier one, never a later one).
 */
const LIB_LAYERS = {
  core: [],
  pandas: ['core'],
  image: ['core'],
  parquet: ['core'],
  inference: ['core', 'image'],
  eval: ['core'],
  temporal: ['core'],
  storage: ['core'],
  'run-folder': ['core', 'storage'],
  split: ['core', 'pandas', 'run-folder', 'storage'],
  plan: ['core', 'pandas', 'run-folder'],
  reuse: ['core', 'pandas', 'parquet', 'run-folder'],
  extract: ['core', 'image', 'inference', 'parquet', 'run-folder', 'reuse', 'storage'],
  compact: ['core', 'pandas', 'parquet', 'run-folder', 'extract'],
  run: ['core', 'pandas', 'inference', 'run-folder', 'split', 'plan', 'reuse', 'extract', 'compact', 'storage'],
  dev: ['core', 'pandas'],
  report: ['core', 'pandas', 'parquet', 'run-folder', 'eval', 'image', 'search', 'extract', 'storage'],
  search: ['core', 'image', 'inference', 'parquet', 'run-folder', 'extract', 'storage'],
};
const LAYER_ZONES = [
  ...Object.entries(LIB_LAYERS).map(([folder, allowed]) => ({
    target: `./lib/${folder}`,
    from: './lib',
    except: [folder, ...allowed].map((name) => `./${name}`),
    message: `lib/${folder}/ may import only lib/{${[folder, ...allowed].join(', ')}}/`,
  })),
  {
    target: './lib',
    from: ['./cli', './activities', './workflows', './workers', './bench', './test'],
    message: 'lib/ holds plain modules: the app layers import it, never the reverse',
  },
  {
    target: './activities',
    from: ['./cli', './workflows', './workers'],
    message: 'activities adapt lib/ for workers; they import no workflow, worker or CLI code',
  },
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'dist.*/',
      '.tools/',
      '.venv-py/',
      '.venv-s3/',
      'models/',
      'scratch/',
      'runs/',
      'sample-data/',
      '.test-artifacts/',
      'bench/results/',
      'bench/.gpu/',
      'bench/.data/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        performance: 'readonly',
      },
    },
    settings: { 'import-x/resolver': { node: { extensions: ['.ts', '.js'] } } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // The anchors' rules (temporalio/samples-typescript): every promise awaited or handled.
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe() return promises the runner itself awaits.
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      'import-x/no-cycle': 'error',
      'import-x/no-duplicates': 'error',
      'import-x/no-restricted-paths': ['error', { zones: LAYER_ZONES }],
    },
  },
  {
    // Functions that read whole: a longer one is split into named phases.
    files: ['lib/**/*.ts', 'workflows/**/*.ts', 'activities/**/*.ts', 'workers/**/*.ts', 'cli/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 90, skipBlankLines: true, skipComments: true }] },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: NOT_IN_WORKFLOWS }] },
  },
  prettier,
);
