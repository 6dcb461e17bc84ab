/**
 * A server-sent events reader for the controller's stream tests: opens the stream with a token and
 * reads it with the product's own SseParser (src/http/sse-parser.ts: id, event, data lines, comments
 * skipped), queueing parsed events for the test to await.
 */
import { SseParser } from '../../src/http/sse-parser.js';

export interface SseEvent {
  id?: string;
  event: string;
  /** the parsed JSON data (tests read it field by field) */
  data: any;
}

export interface SseStream {
  status: number;
  contentType: string | null;
  /** the next event that satisfies pred (events before it are consumed), or a timeout error */
  next(pred?: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** every event received so far and not yet consumed */
  pending(): SseEvent[];
  /** resolves when the server ended the stream */
  ended: Promise<void>;
  close(): void;
}

/** GET /networking/v1/watch with a token. */
export function openWatch(base: string, token: string, query = '', headers: Record<string, string> = {}): Promise<SseStream> {
  return openEventStream(`${base}/networking/v1/watch${query}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
}

/** Any request answered with an event stream (the southbound watch is a POST). */
export async function openEventStream(url: string, init: RequestInit): Promise<SseStream> {
  const ac = new AbortController();
  const res = await fetch(url, { ...init, headers: { accept: 'text/event-stream', ...(init.headers as Record<string, string>) }, signal: ac.signal });
  const queue: SseEvent[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  let done = false;
  const parser = new SseParser((e) => {
    queue.push({ ...(e.id !== undefined ? { id: e.id } : {}), event: e.event, data: JSON.parse(e.data) });
    wake();
  });
  const ended = (async () => {
    if (!res.body || res.status !== 200) return;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.push(chunk);
    } catch {
      // aborted by close()
    } finally {
      done = true;
      wake();
    }
  })();
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    ended,
    pending: () => [...queue],
    close: () => ac.abort(),
    async next(pred = () => true, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = queue.findIndex(pred);
        if (i >= 0) return queue.splice(0, i + 1)[i]!;
        if (done) throw new Error(`The stream ended before the awaited event (got: ${JSON.stringify(queue.map((e) => e.event))})`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`No awaited event within ${timeoutMs} ms (got: ${JSON.stringify(queue.map((e) => e.event))})`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          const w = () => {
            clearTimeout(t);
            waiters.delete(w);
            r();
          };
          waiters.add(w);
        });
      }
    },
  };
}
