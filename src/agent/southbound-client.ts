/**
 * hostd's side of the controller's southbound API (src/controller/southbound.ts): the span, the
 * watch stream, heartbeats and reports of one server, with its host token, over HTTP or HTTPS (the
 * certificate verified against the system's CAs or the one given). Errors carry the controller's
 * status and message; `permanent` marks what retrying cannot fix (401, 403, 404).
 */
import http from 'node:http';
import https from 'node:https';
import { SseParser } from '../http/sse-parser.js';
import type { RemoteEndpoint } from '../controller/span.js';

export interface AgentTarget {
  controller: URL;
  serverId: string;
  token: string;
  /** PEM of the CA that signed the controller's certificate, when not a system CA */
  ca?: Buffer;
}

export type SpanEvent =
  | { type: 'put'; resourceRef: string; etag: string; revision: number; resource: Record<string, unknown> }
  | { type: 'remote'; resourceRef: string; etag: string; revision: number; remoteEndpoint: RemoteEndpoint }
  | { type: 'delete'; resourceRef: string; revision: number }
  | { type: 'ready'; revision: number };

export interface Report {
  resourceRef: string;
  status: 'Success' | 'Failure' | 'Uninitialized';
  detailedInfo?: { code?: string; message?: string }[];
}

export class ControllerError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
  get permanent(): boolean {
    return this.status === 401 || this.status === 403 || this.status === 404;
  }
}

const TIMEOUT_MS = 30_000;

export class SouthboundClient {
  private readonly base: string;

  constructor(private readonly t: AgentTarget) {
    this.base = `/networking/v1/southbound/servers/${encodeURIComponent(t.serverId)}`;
  }

  async heartbeat(body: { hostdVersion: string; supportedModes: string[]; providerAddresses: string[] }): Promise<void> {
    await this.call('PUT', '/heartbeat', body);
  }

  async report(reports: Report[]): Promise<void> {
    for (let i = 0; i < reports.length; i += 1000) await this.call('PUT', '/reports', { reports: reports.slice(i, i + 1000) });
  }

  /**
   * Streams the span's changes after what `have` says the host holds, calling onEvent for each;
   * resolves when the stream ends (the controller went away), rejects on a refusal. `signal` stops it.
   */
  watch(have: Record<string, string>, onEvent: (e: SpanEvent) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = this.request('POST', '/watch', JSON.stringify({ have }), (res) => {
        if (res.statusCode !== 200) return collect(res).then((text) => reject(this.refusal(res.statusCode ?? 0, text)), reject);
        // a stream that stays up has no timeout; keepalives arrive every 15 s
        req.setTimeout(0);
        const parser = new SseParser((e) => {
          if (e.event === 'error') {
            const body = JSON.parse(e.data) as { message?: string; code?: string };
            reject(new ControllerError(`The controller ended the stream: ${body.message ?? body.code ?? 'error'}`, body.code === 'ResourceNotFound' ? 404 : 503));
            req.destroy();
            return;
          }
          onEvent({ ...(JSON.parse(e.data) as object), type: e.event } as SpanEvent);
        });
        res.on('data', (c: Buffer) => parser.push(c));
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      });
      const abort = () => req.destroy();
      signal.addEventListener('abort', abort, { once: true });
      req.on('close', () => {
        signal.removeEventListener('abort', abort);
        resolve();
      });
      req.on('error', (e) => (signal.aborted ? resolve() : reject(e)));
    });
  }

  private call(method: string, path: string, body: unknown): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = this.request(method, path, JSON.stringify(body), (res) => {
        collect(res).then((text) => ((res.statusCode ?? 0) < 300 ? resolve(text) : reject(this.refusal(res.statusCode ?? 0, text))), reject);
      });
      req.on('error', reject);
    });
  }

  private request(method: string, path: string, body: string, onResponse: (res: http.IncomingMessage) => void): http.ClientRequest {
    const u = this.t.controller;
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(
      {
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: u.port || (u.protocol === 'https:' ? 443 : 80),
        method,
        path: `${this.base}${path}`,
        ...(this.t.ca ? { ca: this.t.ca } : {}),
        headers: { authorization: `Bearer ${this.t.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), accept: 'application/json, text/event-stream' },
        timeout: TIMEOUT_MS,
      },
      onResponse,
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${u.origin} within ${TIMEOUT_MS / 1000} s`)));
    req.end(body);
    return req;
  }

  private refusal(status: number, text: string): ControllerError {
    let message = text.slice(0, 500);
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // not JSON: the text itself
    }
    return new ControllerError(`The controller answered ${status}: ${message}`, status);
  }
}

function collect(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}
