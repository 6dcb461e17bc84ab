/**
 * The portal's only way to the controller: the northbound API on this origin with the signed-in
 * bearer token. A 401 anywhere signs the user out (an expired or revoked token); other errors keep
 * the API's own {code, message, syCode} and the field its message names.
 */
export const API = '/networking/v1';

/** A resource as a GET shows it; read field by field (unknown fields stay and are shown raw). */
export type Doc = {
  resourceId: string;
  resourceRef: string;
  etag?: string;
  resourceMetadata?: { tenantId?: string } & Record<string, unknown>;
  properties: Record<string, unknown>;
} & Record<string, unknown>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly syCode: string,
  ) {
    super(message);
  }

  /** The JSON pointer the API's message starts with ("/properties/subnets/0/properties/addressPrefix: …"), if any. */
  get pointer(): string | undefined {
    return pointerOf(this.message)?.pointer;
  }
}

/**
 * The field path of an API error message and the rest of it. Schema errors read
 * `Invalid <what>: /properties/x: message`, the kinds' checks `/properties/x: message`.
 */
export function pointerOf(message: string): { pointer: string; text: string } | undefined {
  const m = /^(?:Invalid [^:]*: )?(\/[^\s:]*): (.*)$/s.exec(message);
  return m ? { pointer: m[1]!, text: m[2]! } : undefined;
}

/**
 * The form field a pointer concerns: its last name, past array indexes and "properties"
 * (`/properties/addressSpace/addressPrefixes/0` → addressPrefixes,
 * `/properties/aclRules/2/properties/sourceAddressPrefix` → sourceAddressPrefix).
 */
export function fieldOf(pointer: string): string | undefined {
  const parts = pointer.split('/').filter((p) => p !== '' && !/^\d+$/.test(p));
  return parts.at(-1);
}

export class Api {
  constructor(
    readonly token: string,
    private readonly onUnauthorized: (message: string) => void,
  ) {}

  get headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  /** The parsed answer and its headers; an ApiError for any status from 400 on. */
  async call(method: string, path: string, body?: unknown, etag?: string): Promise<{ body: unknown; headers: Headers }> {
    const headers: Record<string, string> = { ...this.headers, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (etag) headers['if-match'] = etag;
    let res: Response;
    try {
      res = await fetch(API + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (e) {
      throw new ApiError(0, 'Unreachable', `The controller did not answer (${String(e)})`, 'SY_UNREACHABLE');
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (res.status >= 400) {
      const e = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { code?: string; message?: string; syCode?: string };
      const err = new ApiError(res.status, e.code ?? String(res.status), e.message ?? `HTTP ${res.status}`, e.syCode ?? '');
      if (res.status === 401) this.onUnauthorized(err.message);
      throw err;
    }
    return { body: parsed, headers: res.headers };
  }

  async list(collection: string): Promise<{ value: Doc[]; revision: number }> {
    const { body, headers } = await this.call('GET', `/${collection}`);
    return { value: (body as { value: Doc[] }).value, revision: Number(headers.get('x-sy-revision') ?? 0) };
  }

  put(path: string, body: unknown, etag?: string): Promise<{ body: unknown; headers: Headers }> {
    return this.call('PUT', path, body, etag);
  }

  del(path: string, etag?: string): Promise<{ body: unknown; headers: Headers }> {
    return this.call('DELETE', path, undefined, etag);
  }
}

/** URL-safe path of a resourceRef (resourceIds are already URL-safe, the API checks them). */
export const pathOf = (collection: string, id: string, child?: string, childId?: string): string =>
  `/${collection}/${encodeURIComponent(id)}${child ? `/${child}/${encodeURIComponent(childId ?? '')}` : ''}`;
