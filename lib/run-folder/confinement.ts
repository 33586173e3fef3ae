import fs from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_MODEL_FILE, RunConfigSchema, formatConfigIssues, type RunConfig } from '../core/run-config.ts';
import { InputError } from '../core/errors.ts';
import { isUri } from '../core/uri.ts';
import { DEFAULT_MODEL, PROJECT_ROOT } from '../core/project-paths.ts';
import { formatLocation, isWithin, parseLocation } from '../storage/location.ts';

/**
 * A worker takes its run config from whoever can reach the Temporal frontend, which has no
 * authentication of its own. So it serves only folders its operator named when starting it:
 * every path of a run is resolved (symlinks included) and must lie inside those roots before any
 * file is touched; the CSV and the image folder must also stay inside the run's dataset folder.
 */

export const ALLOW_ROOTS_ENV = 'TESSERA_ALLOW_ROOTS';

/** What a worker may serve, resolved once at its start. */
export interface WorkerRoots {
  /** Real paths of the folders a run's data, out and model may be in. */
  readonly roots: readonly string[];
  /** Real paths where only the model may be: tessera's own models folder, and single model files. */
  readonly modelRoots: readonly string[];
  /** Object-store prefixes (`s3://bucket/prefix`) a run's data may be under. */
  readonly uriRoots: readonly string[];
  /**
   * The embedded run's: its own command named the data, so the CSV, the image folder and the images
   * may be links to anywhere. A worker serving others keeps each of them inside its roots.
   */
  readonly followLinks: boolean;
}

/** Where the run's symlinked images may lead: the roots, or anywhere for the embedded run. */
export function linkTargetsOf(roots: WorkerRoots): readonly string[] | 'anywhere' {
  return roots.followLinks ? 'anywhere' : roots.roots;
}

export class RootsError extends Error {
  override name = 'RootsError';
}

/**
 * TESSERA_ALLOW_ROOTS: entries separated by `:` as before (`/data:/out`), where a `:` that begins a
 * URI's `://` does not separate (`/data:s3://bucket/prefix:/out`); empty entries are ignored.
 */
export function rootsFromEnv(value: string | undefined): string[] {
  return (value ?? '').split(/:(?!\/\/)/).filter((entry) => entry !== '');
}

/** Whether `target` is `root` or below it; both must be resolved already. */
export function isInside(target: string, root: string): boolean {
  if (target === root) return true;
  return target.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

const isMissing = (error: unknown) => ['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '');

/**
 * `target` as the file system would reach it: the realpath of its nearest existing ancestor plus
 * the rest, so an output folder that does not exist yet is checked where it will be created.
 * A dangling symlink on the way is refused: where writes through it would land cannot be checked.
 */
export async function realPathAllowingMissing(target: string): Promise<string> {
  let existing = path.resolve(target);
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(await fs.realpath(existing), ...rest);
    } catch (error) {
      if (!isMissing(error)) throw error;
      if (
        await fs.lstat(existing).then(
          (stat) => stat.isSymbolicLink(),
          () => false,
        )
      ) {
        throw new RootsError(`${existing} is a symlink to something that does not exist`);
      }
      const parent = path.dirname(existing);
      if (parent === existing) throw error;
      rest.unshift(path.basename(existing));
      existing = parent;
    }
  }
}

/**
 * The roots a worker serves, resolved now: later symlink changes cannot widen them. A root that
 * does not exist yet (an embedded run's new output folder) is resolved through its nearest
 * existing ancestor; `tessera worker` itself insists that its roots exist.
 */
export async function resolveWorkerRoots(
  dirs: readonly string[],
  modelFiles: readonly string[] = [],
  { followLinks = false }: { followLinks?: boolean } = {},
): Promise<WorkerRoots> {
  if (!Array.isArray(dirs) || dirs.length === 0) {
    throw new RootsError(`a worker needs at least one folder it may serve (--allow-root DIR or ${ALLOW_ROOTS_ENV})`);
  }
  const roots: string[] = [];
  const uriRoots: string[] = [];
  for (const dir of dirs) {
    if (typeof dir !== 'string' || dir === '' || dir.includes('\0'))
      throw new RootsError(`allowed root ${JSON.stringify(dir)} is not a folder path`);
    if (isUri(dir)) {
      uriRoots.push(uriRoot(dir));
      continue;
    }
    const real = await realPathAllowingMissing(dir).catch((error: unknown) => {
      throw new RootsError(`allowed root ${dir} cannot be resolved: ${(error as Error).message}`);
    });
    if (!roots.includes(real)) roots.push(real);
  }
  const models = await realPathAllowingMissing(path.join(PROJECT_ROOT, 'models'));
  // A model file allowed by itself (the embedded run's --model) opens only that file, not its folder.
  const files = await Promise.all(
    modelFiles.filter((file) => !isUri(file)).map((file) => realPathAllowingMissing(file)),
  );
  uriRoots.push(...modelFiles.filter(isUri).map(uriRoot));
  return { roots, modelRoots: [models, ...files], uriRoots, followLinks };
}

function uriRoot(dir: string): string {
  try {
    return formatLocation(parseLocation(dir));
  } catch (error) {
    throw new RootsError(`allowed root ${dir}: ${(error as Error).message}`);
  }
}

function describeRoots(roots: WorkerRoots): string {
  const served = [...roots.roots, ...roots.uriRoots].join(', ');
  return `this worker serves ${served}${roots.modelRoots.length > 0 ? ` (models also from ${roots.modelRoots.join(', ')})` : ''}`;
}

/** A dataset under an object-store prefix this worker serves (`--allow-root s3://bucket/prefix`). */
function requireUriInRoots(field: string, given: string, roots: WorkerRoots): string {
  const location = parseLocation(given);
  if (!roots.uriRoots.some((root) => isWithin(location, parseLocation(root)))) {
    throw new InputError(
      `${field} ${given} is outside the prefixes this worker may use; ${describeRoots(roots)}. ` +
        `To allow it, start the worker with --allow-root s3://BUCKET/PREFIX (repeatable) or ${ALLOW_ROOTS_ENV} naming a prefix that holds it`,
    );
  }
  return formatLocation(location);
}

/** Resolves a path of the run, turning a failure into an input error that names the field. */
async function resolveField(field: string, given: string, absolute: string, roots: WorkerRoots): Promise<string> {
  try {
    return await realPathAllowingMissing(absolute);
  } catch (error) {
    throw new InputError(
      `${field} ${given}: cannot check where it leads (${(error as Error).message}); ${describeRoots(roots)}`,
    );
  }
}

const resolvedNote = (absolute: string, real: string) => (real === absolute ? '' : ` (it resolves to ${real})`);

/** An `s3://…` out or reuse: the schema accepts them, the stages do not write or read them there yet. */
export function uriNotSupported(field: string, given: string): InputError {
  return new InputError(
    `${field} ${given}: this version of tessera reads the dataset and the model from object storage (--data, --model s3://…) but keeps ${field} in a local folder (or mounted volume); object storage for ${field} is not supported yet`,
  );
}

async function requireInRoots(
  field: 'data' | 'out' | 'model' | 'reuse',
  given: string,
  absolute: string,
  roots: WorkerRoots,
): Promise<string> {
  if (isUri(given)) {
    if (field !== 'data' && field !== 'model') throw uriNotSupported(field, given);
    return requireUriInRoots(field, given, roots);
  }
  const real = await resolveField(field, given, absolute, roots);
  const allowed = field === 'model' ? [...roots.roots, ...roots.modelRoots] : roots.roots;
  if (!allowed.some((root) => isInside(real, root))) {
    throw new InputError(
      `${field} ${absolute}${resolvedNote(absolute, real)} is outside the folders this worker may use; ${describeRoots(roots)}. ` +
        `To allow it, start the worker with --allow-root FOLDER (repeatable) or ${ALLOW_ROOTS_ENV} naming a folder that holds it`,
    );
  }
  return real;
}

/**
 * csv and images are named inside data (no absolute path, no `..` out of it). Where links then
 * lead is the roots' business: inside them for a worker serving others, anywhere for the embedded
 * run, whose own command named the data (an image folder linked to another disk is common).
 */
async function requireInData(
  field: 'csv' | 'images',
  given: string,
  dataGiven: string,
  roots: WorkerRoots,
): Promise<void> {
  const fix = `csv and images are relative paths inside data: move it into ${dataGiven} and name it relative to that folder`;
  if (path.isAbsolute(given)) throw new InputError(`${field} ${given} is an absolute path. ${fix}`);
  if (isUri(dataGiven)) {
    // Under a prefix, a name is a key: it must not climb out of it (links do not exist there).
    const key = path.posix.normalize(given);
    if (isUri(given) || key === '..' || key.startsWith('../'))
      throw new InputError(`${field} ${given} leads outside the dataset prefix ${dataGiven}. ${fix}`);
    return;
  }
  const absolute = path.resolve(dataGiven, given);
  if (!isInside(absolute, path.resolve(dataGiven)))
    throw new InputError(`${field} ${given} leads outside the dataset folder ${dataGiven}. ${fix}`);
  const real = await resolveField(field, given, absolute, roots);
  if (!roots.followLinks && !roots.roots.some((root) => isInside(real, root)))
    throw new InputError(
      `${field} ${given} in ${dataGiven} leads to ${real}, outside the folders this worker may use; ${describeRoots(roots)}. ` +
        `To allow it, start the worker with --allow-root FOLDER (repeatable) or ${ALLOW_ROOTS_ENV} naming a folder that holds it`,
    );
}

/** An input error's message collected instead of thrown, so that every bad field is named at once. */
async function collecting<T>(problems: string[], check: () => Promise<T>): Promise<T | undefined> {
  try {
    return await check();
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    problems.push(error.message);
    return undefined;
  }
}

/** The run's paths that this worker cannot serve, each named (the fields given; none thrown). */
async function pathProblems(
  fields: Partial<Pick<RunConfig, 'data' | 'out' | 'model' | 'reuse' | 'csv' | 'images'>>,
  roots: WorkerRoots,
): Promise<string[]> {
  const problems: string[] = [];
  const model = fields.model === DEFAULT_MODEL_FILE ? DEFAULT_MODEL : fields.model;
  const data =
    fields.data === undefined
      ? undefined
      : await collecting(problems, () =>
          requireInRoots('data', fields.data!, isUri(fields.data!) ? fields.data! : path.resolve(fields.data!), roots),
        );
  if (fields.out !== undefined)
    await collecting(problems, () => requireInRoots('out', fields.out!, path.resolve(fields.out!), roots));
  if (model !== undefined)
    await collecting(problems, () =>
      requireInRoots('model', fields.model!, isUri(model) ? model : path.resolve(model), roots),
    );
  for (const source of fields.reuse ?? [])
    await collecting(problems, () => requireInRoots('reuse', source, path.resolve(source), roots));
  for (const field of ['csv', 'images'] as const) {
    const given = fields[field];
    if (data !== undefined && given !== undefined)
      await collecting(problems, () => requireInData(field, given, fields.data!, roots));
  }
  return problems;
}

/**
 * Refuses a run config whose files lie outside what this worker serves, naming every such path at
 * once. Called by every activity before it touches a file; the error is an InputError, so the run
 * fails at once, not after retries. The config is parsed again: an activity can be scheduled by
 * any workflow, not only tessera's.
 */
export async function checkRunConfigPaths(input: unknown, roots: WorkerRoots): Promise<RunConfig> {
  const parsed = RunConfigSchema.safeParse(input);
  if (!parsed.success) throw new InputError(`invalid run config: ${formatConfigIssues(parsed.error)}`);
  const problems = await pathProblems(parsed.data, roots);
  if (problems.length > 0) throw new InputError(problems.join('; '));
  return parsed.data;
}

/**
 * Every problem of a workflow input that did not parse: the schema's, and this worker's roots for
 * each path field that is valid by itself, so that a user fixes them all in one go.
 */
export async function describeInputProblems(input: unknown, roots: WorkerRoots): Promise<string> {
  const parsed = RunConfigSchema.safeParse(input);
  if (parsed.success) return '';
  const record = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
  const valid: Record<string, unknown> = {};
  for (const field of ['data', 'out', 'model', 'reuse', 'csv', 'images'] as const) {
    const value = record[field] ?? RunConfigSchema.shape[field].safeParse(undefined).data;
    if (RunConfigSchema.shape[field].safeParse(value).success) valid[field] = value;
  }
  const problems = [formatConfigIssues(parsed.error), ...(await pathProblems(valid, roots))];
  return `invalid run config: ${problems.join('; ')}`;
}
