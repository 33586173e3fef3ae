/**
 * The model output a run config names, by index (feature level) or by name; undefined when the
 * model has no such output. Shared by preflight and the session thread so both agree.
 */
export function resolveOutputName(outputNames: readonly string[], output: number | string): string | undefined {
  return typeof output === 'number' ? outputNames[output] : outputNames.find((name) => name === output);
}

export function describeOutputs(outputNames: readonly string[]): string {
  return outputNames.map((name, index) => `${index}: ${name}`).join(', ');
}
