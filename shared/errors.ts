// The one error catalogue: every failure larder reports has a stable code and an HTTP
// status. Clients branch on `code` only; messages are for people.

export const ERRORS = {
  LARDER_BAD_REQUEST: 400,
  LARDER_INVALID_NAMESPACE: 400,
  LARDER_INVALID_KEY: 400,
  LARDER_INVALID_DIGEST: 400,
  LARDER_INVALID_MANIFEST: 400,
  LARDER_DIGEST_MISMATCH: 400,
  LARDER_INCOMPLETE_BODY: 400,
  LARDER_UNAUTHORIZED: 401,
  LARDER_FORBIDDEN: 403,
  LARDER_NOT_FOUND: 404,
  LARDER_ENTRY_NOT_FOUND: 404,
  LARDER_BLOB_NOT_FOUND: 404,
  LARDER_ENTRY_EXISTS: 409,
  LARDER_LENGTH_REQUIRED: 411,
  LARDER_TOO_LARGE: 413,
  LARDER_UNSUPPORTED_MEDIA_TYPE: 415,
  LARDER_RANGE_NOT_SATISFIABLE: 416,
  LARDER_MISSING_BLOBS: 422,
  LARDER_INTERNAL: 500,
  LARDER_STORE_UNAVAILABLE: 503,
  // an OIDC token's issuer could not be asked for its keys: the token can be neither taken nor refused
  LARDER_ISSUER_UNREACHABLE: 503,
  // the store's disk (or quota) is full: retrying will not help until space is freed
  LARDER_STORE_FULL: 507,
  // Client-side failures; the status is what a server would have answered, for symmetry.
  LARDER_USAGE: 400,
  LARDER_PATH_NOT_FOUND: 400,
  // a file or folder under a saved path could not be read, or changed while it was saved
  LARDER_PATH_UNREADABLE: 400,
  // a file changed (grew, was rewritten) while a save read it: the build is still writing
  LARDER_PATH_CHANGED: 409,
  // the disk a restore writes to is full, or refuses writes there
  LARDER_DISK_FULL: 507,
  LARDER_PATH_UNWRITABLE: 403,
  // a save of a folder that is exactly what a restore of another key wrote: the build did not run
  LARDER_UNCHANGED_TREE: 409,
  LARDER_UNREACHABLE: 503,
  LARDER_TIMEOUT: 504,
  LARDER_BAD_RESPONSE: 502,
  LARDER_INTEGRITY: 502,
  LARDER_UNSAFE_ARCHIVE: 422,
  // a restore's target was replaced by someone else while the restore swapped it
  LARDER_TARGET_CHANGED: 409,
  LARDER_COMMAND_FAILED: 500,
} as const;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export class LarderError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LarderError';
    this.code = code;
    this.status = ERRORS[code];
  }

  toJSON(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/**
 * A file system failure anyone can meet (a full disk, a folder without write access) as
 * a catalogue error with what to do; undefined for anything else.
 */
export function fromSystemError(err: unknown, folder?: string): LarderError | undefined {
  const e = err as NodeJS.ErrnoException;
  const path = e?.path ?? folder;
  const where = path ? ` ${path}` : '';
  switch (e?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new LarderError('LARDER_DISK_FULL', `no space left on the disk of${where} (${e.code}); free space there`, { cause: err });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new LarderError('LARDER_PATH_UNWRITABLE', `cannot write${where} (${e.code}); check its owner and permissions`, { cause: err });
    default:
      return undefined;
  }
}

export function isLarderError(err: unknown, code?: ErrorCode): err is LarderError {
  return err instanceof LarderError && (code === undefined || err.code === code);
}
