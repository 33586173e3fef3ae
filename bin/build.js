// The JavaScript that `bin/tessera.js` runs: every TypeScript module of the app transpiled by
// esbuild (tsx's own transpiler) into dist/, tree for tree (cli/main.ts → dist/cli/main.js), with
// dist/build.json recording each source's size, mtime and sha256. `node bin/build.js` (npm run
// build; infra/setup.sh runs it) writes it; `currentBuild()` says whether it is still the build of
// the sources as they are now. The build also writes the workflow bundle that workers run
// (dist/workflow-bundle.js, with a record of its own: bin/workflow-bundle.js). Plain JavaScript:
// it runs before anything can load TypeScript.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { changedSource, fileRecord } from './build-record.js';
import { prebuiltWorkflowBundle, writeWorkflowBundle } from './workflow-bundle.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Where the build goes; lib/core/project-paths.ts knows that it lies one folder below the root. */
export const DIST = path.join(ROOT, 'dist');
const RECORD = 'build.json';
const FORMAT = 1;
/** The app's folders; tests, benchmarks and infra stay TypeScript run through tsx. */
const SOURCE_FOLDERS = ['cli', 'lib', 'workers', 'activities', 'workflows'];
/** This file: a build made by another version of it may be laid out otherwise. */
const BUILDER = path.relative(ROOT, fileURLToPath(import.meta.url));
/**
 * Packages that nearly every command loads, each bundled into one file under dist/node_modules/,
 * where Node finds it first from dist/: zod is ~95 modules, one file instead saves ~25 ms of CPU
 * at every start. Their package.json is in the record, so another installed version rebuilds.
 */
const VENDORED = ['zod'];

const require = createRequire(import.meta.url);

/** The esbuild that tsx itself transpiles with: the build and the fallback read the sources alike. */
function tsxEsbuild() {
  return createRequire(require.resolve('tsx/package.json'))('esbuild');
}

/**
 * dist/cli/main.js when dist/ was built from exactly the sources there are now, else undefined.
 * A source whose size or mtime differs from the record is hashed, so a file touched or checked
 * out again with the same bytes keeps the build, and a file whose bytes changed never runs built.
 * Costs a stat per source (~160) and the record's parse: about 2 ms.
 */
export function currentBuild(root = ROOT) {
  let record;
  try {
    record = JSON.parse(fs.readFileSync(path.join(root, 'dist', RECORD), 'utf8'));
  } catch {
    return undefined; // not built (or being replaced right now)
  }
  if (record?.format !== FORMAT || typeof record.sources !== 'object') return undefined;
  if (changedSource(root, record.sources) !== undefined) return undefined;
  return path.join(root, 'dist', 'cli', 'main.js');
}

function sourcesUnder(root) {
  return SOURCE_FOLDERS.flatMap((folder) =>
    fs
      .readdirSync(path.join(root, folder), { recursive: true })
      .map((name) => path.join(folder, String(name)))
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts')),
  ).sort();
}

/**
 * Each source read once, its stat taken before its bytes: what the record says is what was
 * transpiled, and a file that changes while the build runs is found stale at the next start.
 */
function readSources(root) {
  const sources = new Map();
  const installed = VENDORED.map((name) =>
    path.relative(root, createRequire(path.join(root, 'package.json')).resolve(`${name}/package.json`)),
  );
  for (const file of [...sourcesUnder(root), BUILDER, ...installed]) {
    const stat = fs.statSync(path.join(root, file));
    const bytes = fs.readFileSync(path.join(root, file));
    sources.set(file, { bytes, record: fileRecord(stat, bytes) });
  }
  return sources;
}

/**
 * esbuild's bundler, so that it resolves every import, with each import left external: a module's
 * relative `./x.ts` becomes `./x.js` (static and dynamic imports alike); packages and Node's
 * built-ins stay as written, resolved by Node from the checkout's node_modules.
 */
function externalImports(root, sources) {
  return {
    name: 'tessera-external-imports',
    setup(build) {
      build.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === 'entry-point') return undefined;
        if (args.path.startsWith('.') && args.path.endsWith('.ts'))
          return { path: args.path.replace(/\.ts$/, '.js'), external: true };
        return { path: args.path, external: true };
      });
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        const source = sources.get(path.relative(root, args.path));
        return source ? { contents: source.bytes, loader: 'ts' } : undefined;
      });
    },
  };
}

/** `name` as one ES module in dist/node_modules/name/: the package as installed, bundled, every export kept. */
async function vendor(esbuild, root, staging, name) {
  const folder = path.join(staging, 'node_modules', name);
  const exports = Object.keys(await import(name));
  const reexport = `export * from '${name}';${exports.includes('default') ? ` export { default } from '${name}';` : ''}`;
  await esbuild({
    stdin: { contents: reexport, resolveDir: root, loader: 'js' },
    outfile: path.join(folder, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
  fs.writeFileSync(path.join(folder, 'package.json'), JSON.stringify({ name, type: 'module', exports: './index.js' }));
}

/** Builds dist/ afresh beside the old one and swaps it in, so that a start never sees half a build. */
export async function build(root = ROOT) {
  const started = performance.now();
  const { build: esbuild } = tsxEsbuild();
  const sources = readSources(root);
  const staging = path.join(root, `dist.building-${process.pid}`);
  fs.rmSync(staging, { recursive: true, force: true });
  const entryPoints = [...sources.keys()].filter((file) => file.endsWith('.ts')).map((file) => path.join(root, file));
  for (const name of VENDORED) await vendor(esbuild, root, staging, name);
  await esbuild({
    entryPoints,
    outdir: staging,
    outbase: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    tsconfig: path.join(root, 'tsconfig.json'),
    logLevel: 'warning',
    plugins: [externalImports(root, sources)],
  });
  // The workflow code as workers run it (bin/workflow-bundle.js), with a record of its own: it is
  // made from other files (the Temporal SDK's workflow packages) and used by the TypeScript too.
  const bundled = await writeWorkflowBundle(root, staging);
  const record = { format: FORMAT, sources: Object.fromEntries([...sources].map(([file, s]) => [file, s.record])) };
  fs.writeFileSync(path.join(staging, RECORD), JSON.stringify(record, null, 1) + '\n');
  const old = path.join(root, `dist.old-${process.pid}`);
  const dist = path.join(root, 'dist');
  if (fs.existsSync(dist)) fs.renameSync(dist, old);
  fs.renameSync(staging, dist);
  fs.rmSync(old, { recursive: true, force: true });
  return { files: entryPoints.length, bundled, seconds: (performance.now() - started) / 1000 };
}

// `node bin/build.js [--force]`: builds unless dist/ is the build of the sources as they are, and
// its workflow bundle that of the workflow code and SDK as they are.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const where = `${path.relative(process.cwd(), DIST) || '.'}/`;
  if (!process.argv.includes('--force') && currentBuild() && !('stale' in prebuiltWorkflowBundle(ROOT))) {
    process.stdout.write(`build: ${where} is current\n`);
  } else {
    const { files, bundled, seconds } = await build();
    const bundle = bundled ? 'the workflow bundle made again' : 'the workflow bundle current, kept';
    process.stdout.write(`build: ${files} modules into ${where} (${bundle}) in ${seconds.toFixed(2)} s\n`);
  }
}
