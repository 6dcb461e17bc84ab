/**
 * CNI errors as the spec defines them: a numeric code (1-99 reserved by the spec, 100+ ours), a
 * message and details, printed as JSON on stdout with a non-zero exit. The codes a runtime acts on
 * are 11 (try again later: hostd is not reachable) and 50/51 (STATUS: not ready, out of resources).
 */

export const CNI_CODES = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  NOT_AVAILABLE: 50,
  NO_RESOURCES: 51,
  /** Switchyard: hostd refused or failed the request; details carry its SY_ code and message. */
  HOSTD_REFUSED: 100,
  /** Switchyard: CHECK found the attachment different from what ADD made. */
  CHECK_FAILED: 101,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details = '',
  ) {
    super(message);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): Record<string, unknown> {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}
