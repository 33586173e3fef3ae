/**
 * Seeds, splits and plans a generated CSV of ROWS rows (no images: only the CSV stages run), in
 * this fresh process, so bench/memory.ts can read its peak RSS. Prints one JSON line.
 *
 *   node --import tsx bench/plan-large-csv.ts ROWS DIR
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseRunConfig } from '../lib/core/run-config.ts';
import { planShards } from '../lib/plan/plan-shards.ts';
import { prepareSplit } from '../lib/split/prepare-split.ts';

const [rowsText, dir] = process.argv.slice(2) as [string, string];
const rows = Number(rowsText);
const data = path.join(dir, 'data');
const csv = path.join(data, 'train.csv');
if (!fs.existsSync(csv)) {
  fs.mkdirSync(path.join(data, 'images'), { recursive: true });
  const out = fs.openSync(csv, 'w');
  let text = 'image_id,hotel_id,caption\n';
  for (let k = 0; k < rows; k++) {
    text += `img_${String(k).padStart(8, '0')}.jpg,${k % 5000},"photo ${k}, taken outdoors"\n`;
    if (text.length > 1 << 20) {
      fs.writeSync(out, text);
      text = '';
    }
  }
  fs.writeSync(out, text);
  fs.closeSync(out);
}
const parsed = parseRunConfig({ data, out: path.join(dir, 'out') });
if (!parsed.ok) throw new Error(parsed.message);
const started = performance.now();
const split = await prepareSplit(parsed.config);
const plan = await planShards(parsed.config, 'train');
process.stdout.write(
  `${JSON.stringify({ rows, csvBytes: fs.statSync(csv).size, trainingRows: split.trainingRows, shards: plan.shardCount, seconds: (performance.now() - started) / 1000 })}\n`,
);
