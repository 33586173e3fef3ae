import { readFileSync } from 'node:fs';
import { z } from 'zod';

const PackageJsonSchema = z.object({ version: z.string() });

export const TESSERA_VERSION: string = PackageJsonSchema.parse(
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')),
).version;
