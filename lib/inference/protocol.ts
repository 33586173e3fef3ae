/** Messages between an InferenceEngine and its session thread. */

export interface SessionSpec {
  modelPath: string;
  executionProvider: 'cpu' | 'cuda';
  /** Output index or name, as in the run config. */
  output: number | string;
  intraOpThreads?: number;
}

export interface ModelDescription {
  inputName: string;
  outputName: string;
  outputNames: string[];
}

export type ThreadRequest = { kind: 'run'; id: number; input: Float32Array; dims: number[] };

export type ThreadReply =
  | { kind: 'ready'; model: ModelDescription }
  | { kind: 'load-failed'; message: string }
  | { kind: 'result'; id: number; output: Float32Array; dims: number[]; input: Float32Array }
  | { kind: 'run-failed'; id: number; message: string; input: Float32Array };
