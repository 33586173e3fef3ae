import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { z } from 'zod';
import { RunConfigSchema } from '../lib/core/run-config.ts';
import { configKeys, kebabCase, UsageError } from './run-options.ts';
import { commandLines, nearestFlag, SCHEDULE_USAGE } from './usage-text.ts';

export { nearestFlag, SCHEDULE_USAGE, USAGE } from './usage-text.ts';

/** What a run option's flag takes: `a|b` for a choice, `a[,b]` for a list, N for a number. */
function flagValue(field: z.ZodType): string {
  const inner =
    field.def.type === 'default' || field.def.type === 'optional'
      ? (field.def as unknown as { innerType: z.ZodType }).innerType
      : field;
  const def = inner.def as {
    type: string;
    entries?: Record<string, string>;
    element?: z.ZodType;
    options?: z.ZodType[];
  };
  if (def.type === 'boolean') return '';
  if (def.type === 'enum') return ` ${Object.values(def.entries!).join('|')}`;
  if (def.type === 'array' && def.element?.def.type === 'string') return ' DIR (repeatable)';
  if (def.type === 'array' && def.element) {
    // A list of choices, comma-separated: `train[,val]`.
    const choices = flagValue(def.element).trim().split('|');
    return ` ${choices[0]}${choices
      .slice(1)
      .map((choice) => `[,${choice}]`)
      .join('')}`;
  }
  if (def.type === 'number') return ' N';
  if (def.type === 'union') return ' N|NAME';
  return ' TEXT';
}

/** Every run option as a flag, with its default, from the run config's schema. */
export function runOptionsHelp(): string {
  const lines = configKeys.map((key) => {
    const field = RunConfigSchema.shape[key] as z.ZodType;
    const fallback = field.safeParse(undefined);
    const shown = !fallback.success
      ? 'required'
      : fallback.data === undefined || (Array.isArray(fallback.data) && fallback.data.length === 0)
        ? 'default none'
        : `default ${Array.isArray(fallback.data) ? fallback.data.join(',') : String(fallback.data)}`;
    return `      --${kebabCase(key)}${flagValue(field)}  (${shown})`;
  });
  return ['      Every run option, with its default (the same names in camelCase in --config JSON):', ...lines].join(
    '\n',
  );
}

/** The usage lines of one command (`tessera run …` up to the next command). */
export function usageOf(command: string): string {
  if (command === 'schedule') return SCHEDULE_USAGE;
  if (command === 'run') return `${commandLines('run')}\n${runOptionsHelp()}`;
  return commandLines(command);
}

/**
 * parseArgs for one command, strict, with its mistakes told as a user needs them: an unknown flag
 * names the nearest known one; a flag missing its value says so. The message is the mistake alone:
 * main adds one line pointing to `tessera COMMAND --help` (the usage itself would push the mistake
 * off the screen).
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  _command: string,
  args: string[],
  options: T,
  { allowPositionals = false } = {},
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = (error as Error).message;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const given = /Unknown option '([^']+)'/.exec(message)?.[1] ?? '?';
      const near = nearestFlag(given, Object.keys(options));
      throw new UsageError(`unknown flag ${given}${near ? `: did you mean --${near}?` : ''}`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      throw new UsageError(message.replace(/^Option '([^ ']+)[^']*' argument missing$/, '$1 needs a value'));
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(message);
    throw error;
  }
}
