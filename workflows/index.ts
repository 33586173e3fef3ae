export { extractVectors } from './extract-vectors.ts';
