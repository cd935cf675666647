/**
 * Every Ferry error has a stable code, an HTTP status and a gRPC status (the name of a
 * `grpc.status` value, for the gRPC management API); messages say what, where and what to do.
 * docs/errors.md lists the codes (errors.test.ts keeps the two in step).
 */
export const ERROR_CODES = {
  FERRY_INVALID_CONFIG: {
    status: 400,
    grpcStatus: 'INVALID_ARGUMENT',
    summary: 'the submitted resources failed validation',
  },
  FERRY_BAD_REQUEST: {
    status: 400,
    grpcStatus: 'INVALID_ARGUMENT',
    summary: 'the request itself is malformed',
  },
  FERRY_NOT_FOUND: {
    status: 404,
    grpcStatus: 'NOT_FOUND',
    summary: 'no such resource or revision',
  },
  FERRY_REVISION_TRIMMED: {
    status: 410,
    grpcStatus: 'OUT_OF_RANGE',
    summary: 'the revision is older than the trimmed revision log keeps',
  },
  FERRY_CONFLICT: {
    status: 409,
    grpcStatus: 'ABORTED',
    summary: 'expected revision does not match the store',
  },
  FERRY_REFERENCED: {
    status: 409,
    grpcStatus: 'FAILED_PRECONDITION',
    summary: 'a resource to delete is still referenced',
  },
  FERRY_UNAUTHORIZED: {
    status: 401,
    grpcStatus: 'UNAUTHENTICATED',
    summary: 'missing or wrong credentials',
  },
  FERRY_FORBIDDEN: {
    status: 403,
    grpcStatus: 'PERMISSION_DENIED',
    summary: 'the caller lacks the role this request needs',
  },
  FERRY_STORE_UNAVAILABLE: {
    status: 503,
    grpcStatus: 'UNAVAILABLE',
    summary: 'the store cannot be reached',
  },
  FERRY_RESOURCE_EXHAUSTED: {
    status: 429,
    grpcStatus: 'RESOURCE_EXHAUSTED',
    summary: 'a server limit is reached (e.g. open event streams); retry later',
  },
  FERRY_INTERNAL: {
    status: 500,
    grpcStatus: 'INTERNAL',
    summary: 'a bug: please report it with the log line',
  },
  FERRY_PREFLIGHT_REJECTED: {
    status: 422,
    grpcStatus: 'FAILED_PRECONDITION',
    summary: 'every connected ferry-proxy of the group would reject a changed resource',
  },
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
