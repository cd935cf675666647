/**
 * Every Ferry error has a stable code and an HTTP status; messages say what, where and what to do.
 * docs/errors.md lists the codes (a test keeps the two in step).
 */
export const ERROR_CODES = {
  FERRY_INVALID_CONFIG: { status: 400, summary: 'the submitted resources failed validation' },
  FERRY_BAD_REQUEST: { status: 400, summary: 'the request itself is malformed' },
  FERRY_NOT_FOUND: { status: 404, summary: 'no such resource or revision' },
  FERRY_CONFLICT: { status: 409, summary: 'expected revision does not match the store' },
  FERRY_REFERENCED: { status: 409, summary: 'a resource to delete is still referenced' },
  FERRY_UNAUTHORIZED: { status: 401, summary: 'missing or wrong credentials' },
  FERRY_STORE_UNAVAILABLE: { status: 503, summary: 'the store cannot be reached' },
  FERRY_INTERNAL: { status: 500, summary: 'a bug: please report it with the log line' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class FerryError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Individual problems, each prefixed with its field path. */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, details: readonly string[] = []) {
    super(message);
    this.name = 'FerryError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details: readonly string[] } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isFerryError(err: unknown): err is FerryError {
  return err instanceof FerryError;
}
