export { extractVectors } from './extract-vectors.ts';
export { extractShardRange } from './extract-shard-range.ts';
