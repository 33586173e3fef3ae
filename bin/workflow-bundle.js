// The workflow code that a worker runs, bundled ahead (issue 28): Temporal's bundler (webpack) takes
// seconds of CPU at every worker start, so `node bin/build.js` writes the bundle into dist/ with a
// record of every file webpack read to make it, and a worker runs it only while each of those files
// is as recorded (workers/workflow-bundle.ts); otherwise it bundles workflows/ again, as before.
// Plain JavaScript: bin/build.js runs it before anything can load TypeScript.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { changedSource, fileRecord, sha256 } from './build-record.js';

const FORMAT = 1;
/** The bundle and its record, in dist/. */
export const BUNDLE_FILE = 'workflow-bundle.js';
export const BUNDLE_RECORD = 'workflow-bundle.json';
/** lib/core/project-paths.ts's WORKFLOWS_PATH, relative to the root. */
const WORKFLOWS = path.join('workflows', 'index.ts');
/** This file: its options shape the bundle. */
const SELF = fileURLToPath(import.meta.url);
/** The bundler's own packages: another version may bundle the same files otherwise. */
const BUNDLER_PACKAGES = ['@temporalio/worker', 'webpack', 'swc-loader', '@swc/core', 'source-map-loader'];

/** The bundler's logger without its progress chatter: warnings and errors only. */
const quietLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (message, meta) => console.warn(message, meta ?? ''),
  error: (message, meta) => console.error(message, meta ?? ''),
};

/**
 * A webpack plugin that records each real file the bundler reads, with a stat taken before the
 * read and the sha256 of the bytes read (as bin/build.js records its sources): the record then
 * names the bytes that went into the bundle, even if a file changes while it bundles. It also
 * keeps the paths webpack looked for and did not find (a package.json above a source, say), since
 * one appearing there could change how the same sources bundle.
 */
function recordInputs(root, record) {
  const onDisk = (file) => path.isAbsolute(file) && fs.statSync(file, { throwIfNoEntry: false })?.isFile();
  const note = (file, stat, bytes) => {
    if (stat?.isFile() && Buffer.isBuffer(bytes)) record.sources[path.relative(root, file)] = fileRecord(stat, bytes);
  };
  return {
    apply(compiler) {
      compiler.hooks.beforeRun.tap('tessera-record-inputs', () => {
        const inputs = compiler.inputFileSystem;
        const readFile = inputs.readFile.bind(inputs);
        // Only what lies on the real disk: the bundler's generated entry point lives in memory.
        compiler.inputFileSystem = Object.assign(Object.create(inputs), {
          readFile: (file, ...rest) => {
            const done = rest.pop();
            const stat = onDisk(file) ? fs.statSync(file) : undefined;
            readFile(file, ...rest, (error, bytes) => {
              if (!error) note(file, stat, bytes);
              done(error, bytes);
            });
          },
        });
      });
      compiler.hooks.afterCompile.tap('tessera-record-inputs', (compilation) => {
        // What webpack depends on without reading it through that file system (its loaders' own code).
        for (const file of compilation.fileDependencies)
          if (onDisk(file) && !record.sources[path.relative(root, file)])
            note(file, fs.statSync(file), fs.readFileSync(file));
        for (const file of compilation.missingDependencies)
          if (path.isAbsolute(file) && !fs.existsSync(file)) record.absent.push(path.relative(root, file));
      });
    },
  };
}

/** The package.json of each of the bundler's packages, as the bundler itself resolves them. */
function bundlerPackages(root, record) {
  const fromWorker = createRequire(createRequire(path.join(root, 'package.json')).resolve('@temporalio/worker'));
  for (const name of BUNDLER_PACKAGES) {
    const file = fromWorker.resolve(`${name}/package.json`);
    const stat = fs.statSync(file);
    record.sources[path.relative(root, file)] = fileRecord(stat, fs.readFileSync(file));
  }
  const self = fs.readFileSync(SELF);
  record.sources[path.relative(root, SELF)] = fileRecord(fs.statSync(SELF), self);
}

/**
 * Bundles `root`'s workflows/ with the Temporal SDK installed there: the code, and the record of
 * what it was made from (without the code's own size and hash, which the build's record adds).
 */
export async function bundleWorkflows(root) {
  const { bundleWorkflowCode } = createRequire(path.join(root, 'package.json'))('@temporalio/worker');
  const record = { format: FORMAT, sources: {}, absent: [] };
  bundlerPackages(root, record);
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(root, WORKFLOWS),
    logger: quietLogger,
    webpackConfigHook: (config) => ({
      ...config,
      // Module names relative to the checkout, not to wherever the command ran: the same bundle from anywhere.
      context: root,
      plugins: [...(config.plugins ?? []), recordInputs(root, record)],
    }),
  });
  record.absent = [...new Set(record.absent)].sort();
  return { code, record };
}

/**
 * Writes the bundle of `root`'s workflows and its record into `folder` (bin/build.js's staging
 * dist/): dist/'s own bundle when it is current (its record proves it is what bundling again would
 * make, so a build of other sources takes a second, not ten), else a new one. Returns whether it bundled.
 */
export async function writeWorkflowBundle(root, folder) {
  const current = prebuiltWorkflowBundle(root);
  const { code, record } = 'code' in current ? current : await bundledWithRecord(root);
  fs.writeFileSync(path.join(folder, BUNDLE_FILE), code);
  fs.writeFileSync(path.join(folder, BUNDLE_RECORD), JSON.stringify(record, null, 1) + '\n');
  return !('code' in current);
}

/** A new bundle and its full record: what it was made from, and the code's own size and hash. */
async function bundledWithRecord(root) {
  const { code, record } = await bundleWorkflows(root);
  const bytes = Buffer.from(code);
  const sources = Object.fromEntries(Object.entries(record.sources).sort(([a], [b]) => a.localeCompare(b)));
  return { code, record: { ...record, sources, code: { size: bytes.length, sha256: sha256(bytes) } } };
}

/**
 * dist/'s workflow bundle when every file it was made from is as recorded: `{ code, record }`, the
 * code read and checked against the record's hash (so a build swapped in meanwhile cannot slip in
 * a bundle that this record does not describe). Otherwise `{ stale }`, saying why. A stat per file
 * (~360) and a hash of the bundle (~3 MB): a few ms, against seconds to bundle.
 */
export function prebuiltWorkflowBundle(root) {
  const dist = path.join(root, 'dist');
  let record;
  try {
    record = JSON.parse(fs.readFileSync(path.join(dist, BUNDLE_RECORD), 'utf8'));
  } catch {
    return { stale: `no ${path.join('dist', BUNDLE_RECORD)} (npm run build makes it)` };
  }
  if (record?.format !== FORMAT || typeof record.sources !== 'object' || !Array.isArray(record.absent))
    return { stale: `${path.join('dist', BUNDLE_RECORD)} is of another format` };
  const changed = changedSource(root, record.sources);
  if (changed !== undefined) return { stale: `${changed} changed since the bundle was built` };
  const appeared = record.absent.find((file) => fs.existsSync(path.resolve(root, file)));
  if (appeared !== undefined) return { stale: `${appeared} appeared since the bundle was built` };
  let code;
  try {
    code = fs.readFileSync(path.join(dist, BUNDLE_FILE));
  } catch {
    return { stale: `no ${path.join('dist', BUNDLE_FILE)}` };
  }
  if (code.length !== record.code?.size || sha256(code) !== record.code.sha256)
    return { stale: `${path.join('dist', BUNDLE_FILE)} is not the bundle its record describes` };
  return { code: code.toString('utf8'), record };
}
