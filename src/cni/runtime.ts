/**
 * The little the plugin needs from its JavaScript runtime, with a fast path for Bun (what the
 * installed plugin runs on: it starts in a few milliseconds where Node takes ~75) and the Node API
 * as the fallback. Only Bun's own APIs are used on the fast path: in Bun, merely touching
 * process.stdout, node:http or node:fs costs ~10-20 ms of start-up.
 */

interface BunLike {
  stdin: { text(): Promise<string> };
  stdout: unknown;
  write(dest: unknown, data: string): Promise<number>;
  CryptoHasher: new (alg: string) => { update(s: string): void; digest(enc: 'hex'): string };
  file(path: string): { exists(): Promise<boolean> };
}

const bun = (globalThis as { Bun?: BunLike }).Bun;

export async function readStdin(): Promise<string> {
  if (bun) return bun.stdin.text();
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function writeStdout(text: string): Promise<void> {
  if (bun) {
    await bun.write(bun.stdout, text);
    return;
  }
  await new Promise<void>((resolve, reject) => process.stdout.write(text, (e) => (e ? reject(e) : resolve())));
}

export async function sha256hex(s: string): Promise<string> {
  if (bun) {
    const h = new bun.CryptoHasher('sha256');
    h.update(s);
    return h.digest('hex');
  }
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(s).digest('hex');
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/**
 * One HTTP request over a unix socket. Rejects with {unreachable: true} when nothing listens (or
 * nothing answers within timeoutMs), so the caller can answer CNI code 11 at once.
 */
export async function unixRequest(socket: string, method: string, path: string, body: string | undefined, timeoutMs: number): Promise<HttpAnswer> {
  if (bun) {
    try {
      const res = await fetch(`http://hostd${path}`, {
        method,
        ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
        signal: AbortSignal.timeout(timeoutMs),
        unix: socket,
      } as RequestInit);
      return { status: res.status, body: await res.text() };
    } catch (e) {
      const err = e as Error & { code?: string };
      // Bun's messages speak of URLs and ports; say what happened to the socket instead.
      const reason = err.code === 'ENOENT' ? 'no such socket' : err.code === 'ECONNREFUSED' ? 'connection refused' : err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : err.message;
      throw new Unreachable(socket, reason);
    }
  }
  const http = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: socket,
        method,
        path,
        headers: body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => reject(new Unreachable(socket, e.message)));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new Unreachable(socket, e.message)));
    req.end(body);
  });
}

export class Unreachable extends Error {
  constructor(
    readonly socket: string,
    reason: string,
  ) {
    super(`hostd is not reachable on ${socket}: ${reason}`);
  }
}

/** Whether a file exists (the namespace path a runtime hands over). node:fs costs Bun ~10 ms to load. */
export async function pathExists(path: string): Promise<boolean> {
  if (bun) return bun.file(path).exists();
  const { existsSync } = await import('node:fs');
  return existsSync(path);
}
