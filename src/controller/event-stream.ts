/**
 * Server-sent event streams fed by the store's watch, as the northbound watch (watch.ts) and the
 * southbound one (southbound.ts) both serve them: text/event-stream framing, a keepalive comment,
 * events handled one store revision at a time in order, a slow reader cut off past MAX_BUFFERED,
 * an error event before the end, and every open stream ended when the server closes.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ServerResponse } from 'node:http';
import { asSyError, SyError } from '../errors.js';
import type { Store, Watch, WatchEvent } from './store/store.js';

export const KEEPALIVE_MS = 15_000;
/** bytes a stream may have queued for a slow client before it is ended */
export const MAX_BUFFERED = 8 * 1024 * 1024;

export interface Session {
  /** one event; data is one line of JSON (JSON.stringify writes no newline) */
  send(event: string, id: number | undefined, data: unknown): void;
  readonly ended: boolean;
  /** ends the stream, after an `error` event when err is given */
  end(err?: unknown): void;
}

export interface SessionOptions {
  keepaliveMs?: number;
  /** runs at each keepalive (a token check: throw to end the stream) */
  onKeepalive?: () => Promise<void>;
  /** the error event's `code` for a SyError code */
  errorCode(code: string): string;
}

/** Streams `app` has open; all are ended when it closes (a server-sent stream never ends by itself). */
export function sessionsOf(app: FastifyInstance): Set<Session> {
  const open = new Set<Session>();
  app.addHook('preClose', async () => {
    for (const s of [...open]) s.end();
  });
  return open;
}

/** Takes over the reply: 200 text/event-stream, then events until the client goes or end() is called. */
export function openSession(reply: FastifyReply, open: Set<Session>, opts: SessionOptions): Session & { onEnd(fn: () => void): void } {
  const res: ServerResponse = reply.raw;
  reply.hijack();
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  const cleanups: (() => void)[] = [];
  let ended = false;
  const write = (text: string) => {
    if (!res.writableEnded) res.write(text);
  };
  const session = {
    get ended() {
      return ended;
    },
    send(event: string, id: number | undefined, data: unknown) {
      write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      if (res.writableLength > MAX_BUFFERED) session.end(new SyError('SY_STORE', `The client read too slowly (over ${MAX_BUFFERED} bytes queued): reconnect and resume`));
    },
    end(err?: unknown) {
      if (ended) return;
      ended = true;
      clearInterval(timer);
      open.delete(session);
      for (const fn of cleanups) fn();
      if (err !== undefined) {
        const e = asSyError(err);
        write(`event: error\ndata: ${JSON.stringify({ code: opts.errorCode(e.code), message: e.message, syCode: e.code })}\n\n`);
      }
      res.end();
    },
    onEnd(fn: () => void) {
      if (ended) fn();
      else cleanups.push(fn);
    },
  };
  open.add(session);
  const timer = setInterval(() => {
    write(': keepalive\n\n');
    opts.onKeepalive?.().catch((e: unknown) => session.end(e));
  }, opts.keepaliveMs ?? KEEPALIVE_MS);
  timer.unref();
  res.on('close', () => session.end());
  return session;
}

/**
 * Feeds `handle` every change of the store from revision `from` on, one revision at a time and in
 * order (the next waits for the previous handle); a failing handle or watch ends the session.
 */
export function followStore(store: Store, prefix: string, from: number, session: Session & { onEnd(fn: () => void): void }, handle: (events: WatchEvent[], revision: number) => Promise<void>): void {
  let chain = Promise.resolve();
  const watch: Promise<Watch | undefined> = store
    .watch(prefix, from, {
      onEvents: (events, revision) => {
        chain = chain.then(() => (session.ended ? undefined : handle(events, revision))).catch((e: unknown) => session.end(e));
      },
      onError: (e) => {
        chain = chain.then(() => session.end(e));
      },
    })
    .catch((e: unknown) => {
      session.end(e);
      return undefined;
    });
  session.onEnd(() => void watch.then((w) => w?.cancel()).catch(() => undefined));
}
