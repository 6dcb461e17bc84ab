/**
 * The one error type of Switchyard. Every failure carries a stable `code` (SY_...) that clients can
 * match on; HTTP status is derived from the code only at the API edge (see httpStatusOf).
 */

export type ErrorCode =
  | 'SY_BAD_REQUEST'
  | 'SY_UNAUTHORIZED'
  | 'SY_INVALID_NAME'
  | 'SY_UNKNOWN_TYPE'
  | 'SY_INVALID_SUBNET'
  | 'SY_SUBNET_OVERLAP'
  | 'SY_INVALID_ADDRESS'
  | 'SY_ADDRESS_IN_USE'
  | 'SY_SUBNET_FULL'
  | 'SY_MAC_POOL_FULL'
  | 'SY_PORT_IN_USE'
  | 'SY_PORTS_EXHAUSTED'
  | 'SY_INVALID_POLICY'
  | 'SY_DUPLICATE_NAME'
  | 'SY_DUPLICATE_ID'
  | 'SY_NETWORK_NOT_FOUND'
  | 'SY_ENDPOINT_NOT_FOUND'
  | 'SY_NAMESPACE_NOT_FOUND'
  | 'SY_NOT_FOUND'
  | 'SY_IN_USE'
  | 'SY_NOT_SUPPORTED'
  | 'SY_KERNEL'
  | 'SY_STORE'
  | 'SY_TIMEOUT'
  | 'SY_COMPACTED'
  | 'SY_PRECONDITION_FAILED'
  | 'SY_FORBIDDEN'
  | 'SY_INTERNAL';

/** Extra facts about a kernel command that failed: what ran, what it was fed, what it said. */
export interface CommandFailure {
  argv: string[];
  stdin?: string;
  stderr: string;
  exitCode: number | null;
}

export class SyError extends Error {
  readonly code: ErrorCode;
  readonly command?: CommandFailure;

  constructor(code: ErrorCode, message: string, command?: CommandFailure) {
    super(message);
    this.name = 'SyError';
    this.code = code;
    if (command) this.command = command;
  }
}

const clientErrors: Partial<Record<ErrorCode, number>> = {
  SY_BAD_REQUEST: 400,
  SY_UNAUTHORIZED: 401,
  SY_INVALID_NAME: 400,
  SY_UNKNOWN_TYPE: 400,
  SY_INVALID_SUBNET: 400,
  SY_INVALID_ADDRESS: 400,
  SY_INVALID_POLICY: 400,
  SY_NOT_SUPPORTED: 400,
  SY_SUBNET_OVERLAP: 409,
  SY_ADDRESS_IN_USE: 409,
  SY_SUBNET_FULL: 409,
  SY_MAC_POOL_FULL: 409,
  SY_PORT_IN_USE: 409,
  SY_PORTS_EXHAUSTED: 409,
  SY_DUPLICATE_NAME: 409,
  SY_DUPLICATE_ID: 409,
  SY_IN_USE: 409,
  SY_NETWORK_NOT_FOUND: 404,
  SY_ENDPOINT_NOT_FOUND: 404,
  SY_NAMESPACE_NOT_FOUND: 404,
  SY_NOT_FOUND: 404,
  SY_TIMEOUT: 504,
  SY_COMPACTED: 410,
  SY_PRECONDITION_FAILED: 412,
  SY_FORBIDDEN: 403,
};

/** HTTP status for an error code: 4xx for what the caller got wrong, 5xx for what the host failed to do. */
export function httpStatusOf(code: ErrorCode): number {
  return clientErrors[code] ?? 500;
}

/** Wraps anything thrown into a SyError, keeping SyErrors as they are. */
export function asSyError(err: unknown): SyError {
  if (err instanceof SyError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SyError('SY_INTERNAL', message);
}
