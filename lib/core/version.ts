import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from './project-paths.ts';

const PackageJsonSchema = z.object({ version: z.string() });

export const TESSERA_VERSION: string = PackageJsonSchema.parse(
  JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')),
).version;
