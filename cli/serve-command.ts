import { Searcher } from '../lib/search/searcher.ts';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, startSearchServer } from '../lib/search/search-server.ts';
import { oneOutputFolder, tellingInputErrors, wholeNumber } from './index-command.ts';
import { parseCommandArgs } from './usage.ts';

/** `tessera serve OUT`: the search page and API until Ctrl-C (or SIGTERM). */
export function serveCommand(args: string[]): Promise<number> {
  return tellingInputErrors('serve', async () => {
    const { values, positionals } = parseCommandArgs(
      'serve',
      args,
      {
        port: { type: 'string' },
        host: { type: 'string' },
        'max-bytes': { type: 'string' },
        'max-pixels': { type: 'string' },
        top: { type: 'string' },
        neighbours: { type: 'string' },
      },
      { allowPositionals: true },
    );
    const out = oneOutputFolder('serve', positionals);
    const searcher = await Searcher.open(out, { neighbours: wholeNumber('neighbours', values.neighbours, 1) });
    const server = await startSearchServer(searcher, {
      host: values.host ?? '127.0.0.1',
      port: wholeNumber('port', values.port) ?? 8765,
      maxBytes: wholeNumber('max-bytes', values['max-bytes'], 1) ?? DEFAULT_MAX_BYTES,
      maxPixels: wholeNumber('max-pixels', values['max-pixels'], 1) ?? DEFAULT_MAX_PIXELS,
      top: wholeNumber('top', values.top, 1),
    }).catch(async (error: unknown) => {
      await searcher.close();
      throw error;
    });
    process.stderr.write(`tessera serve: ${server.url} (${searcher.opened.record.entries} tiles); Ctrl-C stops it\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    await searcher.close();
    return 0;
  });
}
