import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The tessera checkout or install this code runs from. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Installed by infra/setup-temporal.sh; TESSERA_TEMPORAL_BIN points elsewhere. */
export function temporalBinary(): string {
  return process.env.TESSERA_TEMPORAL_BIN ?? path.join(PROJECT_ROOT, '.tools', 'temporal', 'bin', 'temporal');
}

/** Exported by infra/ensure-model.sh (timm efficientnet_b0, feature levels 0–4). */
export const DEFAULT_MODEL = path.join(PROJECT_ROOT, 'models', 'efficientnet_b0.onnx');

export const WORKFLOWS_PATH = path.join(PROJECT_ROOT, 'workflows', 'index.ts');
