/**
 * HTTP/JSON client of the host API (used by the CLI and tests): over hostd's unix socket, or over
 * TCP (`switchyard hostd --listen`) with the bearer token.
 */
import http from 'node:http';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** hostd's TCP listener: its URL (http://HOST:PORT) and token. */
export interface TcpTarget {
  url: URL;
  token: string;
}

export class HostClient {
  private readonly agent: http.Agent;
  private readonly where: string;

  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 60_000,
    private readonly tcp?: TcpTarget,
  ) {
    this.agent = new http.Agent({ keepAlive: true });
    this.where = tcp ? tcp.url.origin : socketPath;
  }

  request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          ...(this.tcp ? { host: this.tcp.url.hostname.replace(/^\[|\]$/g, ''), port: this.tcp.url.port || 80 } : { socketPath: this.socketPath }),
          agent: this.agent,
          method,
          path,
          headers: {
            ...(data !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}),
            ...(this.tcp ? { authorization: `Bearer ${this.tcp.token}` } : {}),
          },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = { Error: text };
            }
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              const e = parsed as { Error?: string; Code?: string };
              reject(new ApiError(status, e?.Code ?? 'SY_UNKNOWN', e?.Error ?? `HTTP ${status}`));
            } else resolve(parsed as T);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${this.where} within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
