/**
 * Why a run's validation images have no vectors. The split holds out `valSamples` images per class
 * into validation.csv whatever `splits` asks to extract, so a train-only run counts validation
 * images that nothing else in its output accounts for; the CLI's summary and the report say so
 * in the same words. Null when there is nothing to explain (extracted, or none held out).
 */
export function heldOutValidationNote(validationImages: number, validationExtracted: boolean): string | null {
  return validationExtracted || validationImages === 0
    ? null
    : 'held out by the split, not extracted: add --splits train,val';
}
