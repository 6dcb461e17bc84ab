/**
 * A real controller for the API tests: the northbound API listening on 127.0.0.1 (a random port) over
 * a SQLite store in a temp directory, tokens made through the store as the CLI makes them, and a small
 * HTTP helper. close() stops the server and removes the directory, also after a failed test.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildControllerApi, type ControllerApiOptions } from '../../src/controller/api.js';
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

export async function startController(opts: Omit<ControllerApiOptions, 'store'> = {}): Promise<TestController> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-nc-api-'));
  let store: Store | undefined;
  let app: FastifyInstance | undefined;
  try {
    store = await SqliteStore.open(join(dir, 'controller.db'));
    app = buildControllerApi({ ...opts, store });
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

/** A `switchyard controller` process of the build under test. */
export interface ControllerProcess {
  url: string;
  pid: number;
  /** SIGTERM, then SIGKILL if it has not gone within 5 s */
  stop(): Promise<void>;
}

/** The CLI of the same build as this test file (dist/ or another --outDir). */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** A port nothing listens on now (the kernel's pick; a process started next binds it). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Starts `switchyard controller ARGS --listen 127.0.0.1:PORT` (a free port unless given) and waits until it serves. */
export async function spawnController(args: string[], port?: number): Promise<ControllerProcess> {
  port ??= await freePort();
  const proc = spawn(process.execPath, [CLI, 'controller', ...args, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 15_000;
  while (!out.includes('serving the northbound API')) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`switchyard controller did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: `http://127.0.0.1:${port}`, pid: proc.pid!, stop };
}
