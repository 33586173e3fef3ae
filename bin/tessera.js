#!/usr/bin/env node
// tessera is written in TypeScript and runs through tsx's loader, registered here so that the
// command works from any directory without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
