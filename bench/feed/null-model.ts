import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/core/project-paths.ts';
import { runMeasured } from '../measure.ts';

/** The export environment's Python (infra/setup-export.sh), which has onnx. */
export const BENCH_PYTHON = path.join(PROJECT_ROOT, '.venv-py', 'bin', 'python');

/**
 * Writes the feed benchmarks' null model (null_model.py: level 4's output shape [N, 320, 8, 8] at
 * a few thousand multiply-adds per image) to `file`, so that what they measure is the work around it.
 */
export async function writeNullModel(file: string, imgSize = 256): Promise<string> {
  await runMeasured(BENCH_PYTHON, [path.join(PROJECT_ROOT, 'bench', 'feed', 'null_model.py'), file, String(imgSize)]);
  return file;
}
