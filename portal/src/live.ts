/**
 * What the portal shows, kept current from the controller's change stream: each visible collection
 * is listed once (its X-Sy-Revision says where it stands), then GET /networking/v1/watch from the
 * oldest list's revision brings every put, delete and configurationState after it. This is a cache
 * of the API's answers, never edited by the portal itself: a write shows when its event arrives.
 *
 * EventSource cannot send an Authorization header, so the stream is read with fetch and parsed here
 * (text/event-stream: id, event and data lines). A stream that breaks is resumed after the last
 * revision seen; `Gone` (compacted) lists again; `Unauthorized` signs the user out.
 */
import { Api, API, ApiError, type Doc } from './api.js';

export interface LiveState {
  /** collection → resourceId → the resource as GET shows it */
  collections: Map<string, Map<string, Doc>>;
  /** resourceRef → configurationState reported by hosts (from the stream) */
  reports: Map<string, unknown>;
  /** collections this token may list, in the order asked */
  visible: string[];
  connected: boolean;
  /** the last store revision applied */
  revision: number;
  error?: string;
}

type WatchEvent = { type: string; revision: number; resourceRef: string; resource?: Doc; configurationState?: unknown; code?: string; message?: string };

export class Live {
  state: LiveState = { collections: new Map(), reports: new Map(), visible: [], connected: false, revision: 0 };
  private listeners = new Set<() => void>();
  private stopped = false;
  private abort?: AbortController;
  /** per collection: events at or below its list's revision are already in the list */
  private listedAt = new Map<string, number>();

  constructor(
    private readonly api: Api,
    private readonly collections: string[],
    private readonly onUnauthorized: (message: string) => void,
  ) {}

  subscribe(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  private changed(patch: Partial<LiveState>): void {
    this.state = { ...this.state, ...patch };
    for (const f of this.listeners) f();
  }

  async start(): Promise<void> {
    await this.relist();
    void this.follow();
  }

  /**
   * Lists every collection afresh; the stream then follows from the oldest list's revision. A
   * collection the token may not list (403: a provider collection, to a tenant) is left out.
   */
  private async relist(): Promise<void> {
    const tried = await Promise.all(
      this.collections.map((c) =>
        this.api.list(c).then(
          (l) => ({ c, ...l }),
          (e: unknown) => {
            if (e instanceof ApiError && e.status === 403) return undefined;
            throw e;
          },
        ),
      ),
    );
    const lists = tried.filter((l) => l !== undefined);
    const collections = new Map<string, Map<string, Doc>>();
    for (const l of lists) {
      collections.set(l.c, new Map(l.value.map((d) => [d.resourceId, d])));
      this.listedAt.set(l.c, l.revision);
    }
    const from = lists.length ? Math.min(...lists.map((l) => l.revision)) : 0;
    // the lists carry the reports as of now: older ones from the stream no longer apply
    this.changed({ collections, reports: new Map(), visible: lists.map((l) => l.c), revision: from });
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private async follow(): Promise<void> {
    let delay = 250;
    while (!this.stopped) {
      try {
        await this.stream();
        delay = 250;
      } catch (e) {
        if (this.stopped) return;
        this.changed({ connected: false, error: `Live updates interrupted: ${String(e instanceof Error ? e.message : e)}` });
      }
      if (this.stopped) return;
      this.changed({ connected: false });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }

  /** One stream from the revision after the last applied, until it ends. */
  private async stream(): Promise<void> {
    this.abort = new AbortController();
    const res = await fetch(`${API}/watch?fromRevision=${this.state.revision + 1}`, { headers: { ...this.api.headers, accept: 'text/event-stream' }, signal: this.abort.signal });
    if (res.status === 401) {
      this.stopped = true;
      this.onUnauthorized('The controller no longer accepts this token');
      return;
    }
    if (res.status !== 200 || !res.body) throw new Error(`the watch answered ${res.status}`);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const v = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = v;
          else if (field === 'data') data.push(v);
        }
        if (data.length) await this.apply(event, JSON.parse(data.join('\n')) as WatchEvent);
      }
    }
  }

  private async apply(event: string, ev: WatchEvent): Promise<void> {
    if (event === 'ready') {
      this.changed({ connected: true, error: undefined });
      return;
    }
    if (event === 'error') {
      if (ev.code === 'Unauthorized') {
        this.stopped = true;
        this.onUnauthorized(ev.message ?? 'The token was revoked');
      } else if (ev.code === 'Gone') {
        // compacted past where we were: list again, and the next stream follows from there
        await this.relist();
      }
      throw new Error(ev.message ?? ev.code ?? 'the stream ended');
    }
    const [, collection, id, child] = ev.resourceRef.split('/');
    if (collection === undefined || id === undefined) return;
    const collections = new Map(this.state.collections);
    const reports = new Map(this.state.reports);
    if (event === 'configurationState') {
      // null (the report is gone) is kept too: it overrides what the resource's last GET carried
      reports.set(ev.resourceRef, ev.configurationState ?? null);
    } else if (!child && collections.has(collection) && ev.revision > (this.listedAt.get(collection) ?? 0)) {
      const docs = new Map(collections.get(collection));
      if (event === 'put' && ev.resource) docs.set(id, ev.resource);
      else if (event === 'delete') docs.delete(id);
      collections.set(collection, docs);
    }
    this.changed({ collections, reports, revision: Math.max(this.state.revision, ev.revision) });
  }

  /** The resources of a collection, by resourceId. */
  docs(collection: string): Doc[] {
    return [...(this.state.collections.get(collection)?.values() ?? [])].sort((a, b) => a.resourceId.localeCompare(b.resourceId));
  }

  doc(collection: string, id: string): Doc | undefined {
    return this.state.collections.get(collection)?.get(id);
  }

  /** The configuration state of a resource or child: the stream's latest report, else what its GET carried. */
  reportOf(ref: string, props?: Record<string, unknown>): unknown {
    return this.state.reports.has(ref) ? this.state.reports.get(ref) : props?.configurationState;
  }
}
