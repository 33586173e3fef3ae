import { UsageError } from './run-options.ts';
import { parseCommandArgs } from './usage.ts';

/**
 * `tessera report OUT`: writes the finished run's report page and prints its path. A folder that
 * holds no finished run is the user's mistake in naming it, as `tessera status` treats a folder
 * with no run: a usage error (exit 2) that names the folder and what is missing.
 */
export async function reportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'report',
    args,
    { out: { type: 'string' }, html: { type: 'string' }, sample: { type: 'string' } },
    { allowPositionals: true },
  );
  const folders = [...positionals, ...(values.out === undefined ? [] : [values.out])];
  if (folders.length !== 1)
    throw new UsageError(
      folders.length === 0
        ? 'needs the output folder of a finished run'
        : `takes one output folder, got ${folders.join(', ')}`,
    );
  // The page's modules (Parquet reading, PCA, the HTML) load once the command line is known to be right.
  const { NotAFinishedRunError } = await import('../lib/report/report-inputs.ts');
  const { REPORT_SAMPLE_IMAGES, writeRunReport } = await import('../lib/report/report.ts');
  const sample = values.sample === undefined ? REPORT_SAMPLE_IMAGES : Number(values.sample);
  if (!Number.isInteger(sample) || sample < 1)
    throw new UsageError(`--sample ${values.sample}: expected a whole number of images, at least 1`);
  try {
    const { file } = await writeRunReport(folders[0]!, { file: values.html, maxImages: sample });
    process.stdout.write(`${file}\n`);
    return 0;
  } catch (error) {
    if (error instanceof NotAFinishedRunError) throw new UsageError(`no report: ${error.message}`);
    throw error;
  }
}
