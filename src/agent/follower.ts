/**
 * hostd following the controller (the host agent): keeps this server's span (src/controller/span.ts)
 * in a local cache, persisted in the state directory, and hands every change to a Realiser that
 * makes the host match it; sends the realiser's reports and a heartbeat up.
 *
 * - Resuming is cheap: the watch is opened with what the cache holds (resourceRef → etag), so after
 *   a disconnect, a controller restart or a hostd restart only what changed meanwhile comes down.
 * - The controller away: the cache and the host keep their last good state (nothing is removed
 *   because the controller is unreachable); the agent retries with backoff (0.5 s doubling to
 *   10 s) and catches up when it is back. A refusal (401/403/404) is logged and retried at the
 *   longest backoff: a revoked token or a missing server needs an admin, not a restart.
 * - Changes are applied in batches (events arriving within BATCH_MS), in order, one batch at a time.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ownerRef } from '../controller/check-context.js';
import type { RemoteEndpoint } from '../controller/span.js';
import { ControllerError, type Report, type SouthboundClient, type SpanEvent } from './southbound-client.js';

export type SpanMember =
  | { type: 'resource'; etag: string; resource: Record<string, unknown> }
  | { type: 'remote'; etag: string; remoteEndpoint: RemoteEndpoint };

export type SpanChange = Exclude<SpanEvent, { type: 'ready' }>;

export interface Realiser {
  /** Makes the host match `members` after `changes` (already in it); what to report up. */
  apply(changes: SpanChange[], members: ReadonlyMap<string, SpanMember>): Promise<Report[]>;
}

export interface FollowerOptions {
  stateFile: string;
  hostdVersion: string;
  supportedModes: () => string[];
  providerAddresses: () => string[];
  heartbeatMs?: number;
  backoffMaxMs?: number;
  log?: (level: 'info' | 'warn', message: string) => void;
}

export interface FollowerStatus {
  connected: boolean;
  /** the store revision the cache reflects */
  revision: number;
  members: number;
  lastError?: string;
  lastContact?: string;
}

const BATCH_MS = 20;
const BACKOFF_MIN_MS = 500;

export class Follower {
  private members = new Map<string, SpanMember>();
  private revision = 0;
  private connected = false;
  private lastError: string | undefined;
  private lastContact: string | undefined;
  private pending: SpanChange[] = [];
  private unsent: Report[] = [];
  private flushing = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: SouthboundClient,
    private readonly realiser: Realiser,
    private readonly opts: FollowerOptions,
  ) {}

  status(): FollowerStatus {
    return { connected: this.connected, revision: this.revision, members: this.members.size, ...(this.lastError ? { lastError: this.lastError } : {}), ...(this.lastContact ? { lastContact: this.lastContact } : {}) };
  }

  /** The cached span (what the host realises), by resourceRef. */
  get span(): ReadonlyMap<string, SpanMember> {
    return this.members;
  }

  /** Loads the cache, realises it (the host may have rebooted), then follows the controller. */
  async start(): Promise<void> {
    await this.load();
    if (this.members.size) {
      const all: SpanChange[] = [...this.members].map(([resourceRef, m]) =>
        m.type === 'resource' ? { type: 'put', resourceRef, etag: m.etag, revision: this.revision, resource: m.resource } : { type: 'remote', resourceRef, etag: m.etag, revision: this.revision, remoteEndpoint: m.remoteEndpoint },
      );
      this.unsent.push(...(await this.realiser.apply(all, this.members)));
    }
    const beat = () => void this.sendHeartbeat();
    beat();
    this.heartbeat = setInterval(beat, this.opts.heartbeatMs ?? 10_000);
    this.heartbeat.unref();
    this.loop = this.follow();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    this.abort.abort();
    await this.loop;
    clearTimeout(this.flushTimer);
    await this.flush();
  }

  private async follow(): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    while (!this.stopped) {
      try {
        await this.client.watch(Object.fromEntries([...this.members].map(([ref, m]) => [ref, m.etag])), (e) => this.onEvent(e, () => (backoff = BACKOFF_MIN_MS)), this.abort.signal);
        if (!this.stopped) this.note('warn', 'the controller closed the stream; reconnecting');
      } catch (e) {
        const err = e as Error;
        if (err instanceof ControllerError && err.permanent) backoff = this.opts.backoffMaxMs ?? 10_000;
        this.note('warn', `following the controller: ${err.message}`);
      }
      this.connected = false;
      await this.flush();
      if (this.stopped) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, backoff);
        this.abort.signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
      });
      backoff = Math.min(backoff * 2, this.opts.backoffMaxMs ?? 10_000);
    }
  }

  private onEvent(e: SpanEvent, connectedNow: () => void): void {
    this.lastContact = new Date().toISOString();
    if (e.type === 'ready') {
      if (!this.connected) this.note('info', `following the controller from revision ${e.revision}`);
      this.connected = true;
      this.lastError = undefined;
      connectedNow();
      return;
    }
    this.pending.push(e);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, BATCH_MS);
  }

  /** Applies what is pending, one batch at a time, in order. */
  private flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = this.pending;
      this.pending = [];
      if (batch.length) {
        for (const c of batch) {
          if (c.type === 'delete') this.members.delete(c.resourceRef);
          else if (c.type === 'put') this.members.set(c.resourceRef, { type: 'resource', etag: c.etag, resource: c.resource });
          else this.members.set(c.resourceRef, { type: 'remote', etag: c.etag, remoteEndpoint: c.remoteEndpoint });
          this.revision = Math.max(this.revision, c.revision);
        }
        await this.save();
        this.unsent.push(...(await this.realiser.apply(batch, this.members).catch((e: unknown) => failedAll(batch, e))));
      }
      if (this.unsent.length && this.connected) {
        // what has left the span since is nobody's to report (the controller would refuse the batch)
        const sending = this.unsent.filter((r) => this.members.has(ownerRef(r.resourceRef) ?? ''));
        this.unsent = [];
        await this.client.report(sending).catch((e: unknown) => {
          this.unsent = [...sending, ...this.unsent];
          this.note('warn', `reporting to the controller: ${(e as Error).message}`);
        });
      }
    });
    return this.flushing;
  }

  private async sendHeartbeat(): Promise<void> {
    try {
      await this.client.heartbeat({ hostdVersion: this.opts.hostdVersion, supportedModes: this.opts.supportedModes(), providerAddresses: this.opts.providerAddresses() });
      if (this.unsent.length && this.connected) await this.flush();
    } catch (e) {
      this.note('warn', `heartbeat: ${(e as Error).message}`);
    }
  }

  private note(level: 'info' | 'warn', message: string): void {
    if (level === 'warn') this.lastError = message;
    this.opts.log?.(level, message);
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.opts.stateFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    const saved = JSON.parse(text) as { version: number; revision: number; members: [string, SpanMember][] };
    if (saved.version !== 1) throw new Error(`${this.opts.stateFile}: unknown version ${saved.version}`);
    this.revision = saved.revision;
    this.members = new Map(saved.members);
  }

  /** Written to a temporary file, synced and renamed over: a crash leaves the old cache or the new one. */
  private async save(): Promise<void> {
    await mkdir(dirname(this.opts.stateFile), { recursive: true, mode: 0o700 });
    const tmp = `${this.opts.stateFile}.tmp`;
    const f = await open(tmp, 'w', 0o600);
    try {
      await f.writeFile(JSON.stringify({ version: 1, revision: this.revision, members: [...this.members] }));
      await f.sync();
    } finally {
      await f.close();
    }
    await rename(tmp, this.opts.stateFile);
  }
}

/** A realiser that threw: every resource of the batch failed with its message. */
function failedAll(batch: SpanChange[], e: unknown): Report[] {
  const message = e instanceof Error ? e.message : String(e);
  return batch.filter((c) => c.type === 'put').map((c) => ({ resourceRef: c.resourceRef, status: 'Failure', detailedInfo: [{ code: 'SY_INTERNAL', message: message.slice(0, 4000) }] }));
}
