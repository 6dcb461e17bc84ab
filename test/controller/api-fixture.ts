/**
 * A real controller for the API tests: the northbound API listening on 127.0.0.1 (a random port) over
 * a SQLite store in a temp directory, tokens made through the store as the CLI makes them, and a small
 * HTTP helper. close() stops the server and removes the directory, also after a failed test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildControllerApi } from '../../src/controller/api.js';
import { createToken } from '../../src/controller/auth.js';
import { SqliteStore } from '../../src/controller/store/sqlite.js';
import type { Store } from '../../src/controller/store/store.js';

export interface Answer {
  status: number;
  /** the parsed JSON (tests read documents field by field: `any` here only, not in src/) */
  body: any;
  headers: Headers;
}

export interface TestController {
  url: string;
  store: Store;
  dir: string;
  admin: string;
  /** a token of tenant `name` (made once per name) */
  tenant(name: string): Promise<string>;
  req(method: string, path: string, body?: unknown, opts?: { token?: string | null; headers?: Record<string, string>; raw?: string }): Promise<Answer>;
  /** every key of the store with its value and revisions: what "changed nothing" is checked against */
  dump(): Promise<string>;
  close(): Promise<void>;
}

export async function startController(): Promise<TestController> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-nc-api-'));
  let store: Store | undefined;
  let app: FastifyInstance | undefined;
  try {
    store = await SqliteStore.open(join(dir, 'controller.db'));
    app = buildControllerApi({ store });
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (e) {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const s = store;
  const a = app;
  const admin = (await createToken(s, 'provider', 'admin')).token;
  const tenants = new Map<string, string>();
  const c: TestController = {
    url,
    store: s,
    dir,
    admin,
    async tenant(name) {
      if (!tenants.has(name)) tenants.set(name, (await createToken(s, name, 'tenant')).token);
      return tenants.get(name)!;
    },
    req: (method, path, body, opts = {}) => request(url, method, path, body, { ...opts, token: opts.token === undefined ? admin : opts.token }),
    async dump() {
      const { kvs } = await s.range('');
      return JSON.stringify(kvs.map((kv) => [kv.key, kv.value, kv.modRevision, kv.version]));
    },
    async close() {
      await a.close();
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return c;
}

export async function request(
  base: string,
  method: string,
  path: string,
  body: unknown,
  opts: { token?: string | null; headers?: Record<string, string>; raw?: string },
): Promise<Answer> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const data = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  if (data !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(`${base}${path.startsWith('/networking') ? '' : '/networking/v1'}${path}`, { method, headers, ...(data !== undefined ? { body: data } : {}) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: the test sees the text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
