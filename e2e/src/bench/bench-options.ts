/** Command-line values of the benchmark scripts. */

/** `--name`'s value as a non-negative integer, or `fallback` when it was not given. */
export function nonNegativeInt(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`--${name}: expected a non-negative integer, got "${text}"`);
  return value;
}
