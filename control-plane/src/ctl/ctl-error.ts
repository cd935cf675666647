/** ferryctl's exit codes and the error that carries one to main(). */
export const EXIT_OK = 0;
/** The server refused: validation, conflict, still referenced, not found, pre-flight. */
export const EXIT_REJECTED = 1;
/**
 * Bad usage, unreadable input file, server unreachable or untrusted (TLS), missing or refused
 * credentials (no token, unknown, expired or revoked), or any other failure.
 */
export const EXIT_USAGE = 2;
/** The caller is known but its role does not allow the request for that group (FERRY_FORBIDDEN). */
export const EXIT_FORBIDDEN = 3;

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
  'FERRY_REVISION_TRIMMED',
  'FERRY_PREFLIGHT_REJECTED',
]);

export function exitCodeForServerError(code: string): number {
  if (code === 'FERRY_FORBIDDEN') return EXIT_FORBIDDEN;
  return REJECTION_CODES.has(code) ? EXIT_REJECTED : EXIT_USAGE;
}
