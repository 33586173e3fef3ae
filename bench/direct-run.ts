/**
 * The workflow's activities called in this fresh process with no Temporal at all, for the
 * orchestration-overhead comparison (a fresh process, like the embedded run, so both pay for
 * model loading and first-touch memory alike). Prints one JSON line.
 *
 *   node --import tsx bench/direct-run.ts DATA OUT MODEL
 */
import { parseRunConfig } from '../lib/core/run-config.ts';
import { InferenceEngines } from '../lib/inference/engine.ts';
import { runWithoutTemporal } from './stages.ts';

const [data, out, model] = process.argv.slice(2);
const parsed = parseRunConfig({ data, out, model });
if (!parsed.ok) throw new Error(parsed.message);
const engines = new InferenceEngines();
const result = await runWithoutTemporal(parsed.config, engines);
await engines.closeAll();
process.stdout.write(`${JSON.stringify(result)}\n`);
