/** ferryctl's exit codes and the error that carries one to main(). */
export const EXIT_OK = 0;
/** The server refused: validation, conflict, still referenced, not found. */
export const EXIT_REJECTED = 1;
/** Bad usage, unreadable input file, server unreachable, or any other failure. */
export const EXIT_USAGE = 2;

export class CtlError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    /** Printed one per line under the message (field-path problems). */
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = 'CtlError';
  }
}

const REJECTION_CODES = new Set([
  'FERRY_INVALID_CONFIG',
  'FERRY_CONFLICT',
  'FERRY_REFERENCED',
  'FERRY_NOT_FOUND',
]);

export function exitCodeForServerError(code: string): number {
  return REJECTION_CODES.has(code) ? EXIT_REJECTED : EXIT_USAGE;
}
