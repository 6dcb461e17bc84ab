/**
 * hostd's DHCP leases: the endpoints of a Transparent network with an Ipam of Type DHCP lease their
 * addresses from a server on the physical network (src/dhcp/ is the client). Here lives what hostd
 * does around the client:
 *  - a new endpoint leases through a lease port: a veth (sy-dh-*) on the network's switch whose inside
 *    is the endpoint's interface, with its MAC, up, without address; it is gone when the request
 *    ends (the reconciler then makes the endpoint's own veth with the leased address). A crash leaves
 *    at most the lease port, which the next full pass removes as any owned link no record wants.
 *  - while an endpoint lives its lease is renewed on schedule (src/dhcp/schedule.ts: renew from T1,
 *    rebind from T2) outside hostd's queue of changes, and the new lease is stored with the endpoint
 *    inside it; one exchange per endpoint at a time (they share UDP port 68 of its namespace).
 *  - a lease the server refuses (NAK), or one that expired with no server answering, is the
 *    endpoint's Health (Error, with the reason) until hostd gets the same address back, which it
 *    asks for every MIN_RETRY_MS. The address is not changed under a running endpoint.
 *  - after a restart the stored leases are scheduled again; one that expired meanwhile is asked for
 *    again at once (INIT-REBOOT with the old address first).
 *  - on delete the lease is released before the endpoint's veth (and address) goes.
 */
import { DEFAULT_TIMEOUT_MS, isDhcpRefusal, type DhcpInterface, type Lease } from '../dhcp/client.js';
import { isDnsDomain } from '../model/dns.js';
import { leaseAction, MIN_RETRY_MS } from '../dhcp/schedule.js';
import { SyError } from '../errors.js';
import { shortId } from '../model/names.js';
import type { DnsSettings } from '../model/records.js';
import type { Logger } from './reconciler.js';
import type { LeaseExchange, LeasePort } from './lease-exchange.js';

export type { LeasePort } from './lease-exchange.js';

/** What the lease manager needs of hostd. */
export interface LeaseHost {
  /** runs `fn` in hostd's queue of changes */
  serial<T>(fn: () => Promise<T>): Promise<T>;
  /** the interface an endpoint's lease lives on now; undefined when the endpoint is gone */
  interfaceOf(endpointId: string): DhcpInterface | undefined;
  /** stores `next` as the endpoint's lease if it still holds `was` (run inside serial) */
  saveLease(endpointId: string, was: Lease, next: Lease): Promise<void>;
}

interface Tracked {
  lease: Lease;
  /** when the last attempt failed (epoch ms) */
  failedAt?: number;
  /** why the address is not leased any more (NAK, expiry): the endpoint's Health says it */
  lost?: string;
  /** with `lost`: why the last attempt to get it back failed */
  lastError?: string;
}

const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;
/** setTimeout's limit; a later action is looked at again then. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * A MAC for an endpoint of a DHCP network, from its id (its address is not known before the lease):
 * locally administered, unicast, stable for the endpoint (02:44 sets it apart from 02:53, the MACs
 * derived from static addresses).
 */
export function dhcpMac(endpointId: string): string {
  const hex = shortId(endpointId);
  return `02:44:${hex.match(/../g)!.join(':')}`;
}

/** The DHCP host name an endpoint's name gives, when it is one. */
export function dhcpHostname(name: string): string | undefined {
  return HOSTNAME.test(name) ? name : undefined;
}

/** The DNS settings a lease brings (none when it names no server and no domain). */
export function dnsOfLease(l: Lease): DnsSettings | undefined {
  // the server's domain goes into resolv.conf: held to what a user's Dns.Domain must be, else left out
  const domain = l.domain && isDnsDomain(l.domain) ? l.domain : undefined;
  if (!l.dnsServers.length && !domain) return undefined;
  return { ...(domain ? { domain } : {}), search: [], servers: [...l.dnsServers], options: [] };
}

/** When a tracked lease next needs hostd: the schedule's rules, and every MIN_RETRY_MS once it is lost. */
export function nextAttemptAt(t: Tracked): number {
  if (t.failedAt !== undefined && (t.lost || t.failedAt >= t.lease.expiresAt)) return t.failedAt + MIN_RETRY_MS;
  return leaseAction(t).at;
}

export class DhcpLeases {
  private readonly tracked = new Map<string, Tracked>();
  /** the exchange in flight per endpoint */
  private readonly inflight = new Map<string, Promise<void>>();
  /** endpoints with an attempt not finished (its exchange, then storing its lease): not started again */
  private readonly busy = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly host: LeaseHost,
    private readonly log: Logger,
    /** the kernel and wire side (lease-exchange.ts) */
    private readonly wire: LeaseExchange,
    /** bound of one exchange, retransmits included */
    readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {
    if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000) throw new SyError('SY_BAD_REQUEST', `DHCP timeout ${timeoutMs} ms is not in 100-600000`);
  }

  /**
   * Leases an address for a new endpoint through a lease port (see the top of this file), and runs
   * `check` on it while the port is there: if `check` throws, the lease is released and the error
   * thrown. No server within timeoutMs: SY_TIMEOUT naming the MAC. The port is gone when this
   * settles, whatever happened.
   */
  async acquire(port: LeasePort, check: (l: Lease) => void): Promise<Lease> {
    return this.wire.withPort(port, async (iface) => {
      let lease: Lease;
      try {
        lease = await this.wire.acquire({ ...iface, timeoutMs: this.timeoutMs });
      } catch (e) {
        if (e instanceof SyError && e.code === 'SY_TIMEOUT') {
          throw new SyError('SY_TIMEOUT', `No DHCP server answered for MAC ${port.mac} within ${this.timeoutMs / 1000} s (bridge "${port.bridge}"): is a DHCP server on the physical network? Nothing was created`);
        }
        throw e;
      }
      try {
        check(lease);
      } catch (e) {
        await this.releaseOn(port, iface, lease);
        throw e;
      }
      return lease;
    });
  }

  /** Releases `lease` through a lease port: for an endpoint whose own veth is gone already (a create rolled back). Best effort. */
  async releaseThroughPort(port: LeasePort, lease: Lease): Promise<void> {
    await this.wire.withPort(port, (iface) => this.releaseOn(port, iface, lease)).catch((e: Error) =>
      this.log.warn(`the DHCP lease of ${lease.address} (MAC ${port.mac}) could not be released; server ${lease.serverId} keeps it until it expires: ${e.message}`),
    );
  }

  /** Starts renewing an endpoint's lease (after its create, and for each stored one at start). */
  track(endpointId: string, lease: Lease): void {
    this.tracked.set(endpointId, { lease });
    this.schedule();
  }

  /**
   * Gives an endpoint's lease back (DHCPRELEASE from its address, so before its veth goes) and stops
   * tracking it. Waits for an exchange in flight first. Best effort: never throws.
   */
  async release(endpointId: string, lease: Lease, iface: DhcpInterface | undefined): Promise<void> {
    const busy = this.inflight.get(endpointId);
    this.tracked.delete(endpointId);
    if (busy) await busy;
    this.schedule();
    if (!iface) return;
    const sent = await this.wire.release({ ...iface, timeoutMs: this.timeoutMs }, lease);
    if (!sent) this.log.warn(`the DHCP lease of ${lease.address} could not be released; server ${lease.serverId} keeps it until it expires`);
  }

  /** Why an endpoint's address is not leased any more, if it is not (its Health). */
  problem(endpointId: string): string | undefined {
    const t = this.tracked.get(endpointId);
    return t?.lost && (t.lastError && !t.lost.includes(t.lastError) ? `${t.lost}; last attempt: ${t.lastError}` : t.lost);
  }

  /** Stops the timer (exchanges in flight finish on their own). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A release needs the address on the interface: the port gets it for the moment. */
  private async releaseOn(port: LeasePort, iface: DhcpInterface, lease: Lease): Promise<void> {
    await this.wire.addressPort(port, lease);
    if (!(await this.wire.release({ ...iface, timeoutMs: this.timeoutMs }, lease))) throw new SyError('SY_KERNEL', 'the DHCPRELEASE could not be sent');
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    let at = Infinity;
    for (const [id, t] of this.tracked) if (!this.busy.has(id)) at = Math.min(at, nextAttemptAt(t));
    if (at === Infinity) return;
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_DELAY_MS, Math.max(0, at - Date.now())));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const [id, t] of this.tracked) if (!this.busy.has(id) && nextAttemptAt(t) <= now) this.attempt(id, t);
    this.schedule();
  }

  /**
   * One renewal (or, for a lost or expired lease, one acquire of the same address) of one endpoint.
   * Only the exchange counts as in flight (release waits for it); the new lease is then stored
   * through hostd's queue, which a release may be holding: waiting for that would never end.
   */
  private attempt(id: string, t: Tracked): void {
    this.busy.add(id);
    const exchange = this.tryOnce(id, t);
    this.inflight.set(id, exchange.then(() => undefined));
    exchange
      .then(async (next) => {
        this.inflight.delete(id);
        if (!next || this.tracked.get(id) !== t) return;
        await this.host.serial(() => this.host.saveLease(id, t.lease, next));
        if (this.tracked.get(id) !== t) return;
        this.tracked.set(id, { lease: next });
        this.log.info(`endpoint ${id}: DHCP lease of ${next.address} ${t.lost ? 'regained' : 'renewed'} until ${new Date(next.expiresAt).toISOString()}`);
      })
      .catch((e: Error) => this.log.warn(`endpoint ${id}: DHCP lease: ${e.message}`))
      .finally(() => {
        this.inflight.delete(id);
        this.busy.delete(id);
        this.schedule();
      });
  }

  /** The exchange of an attempt: the new lease, or undefined after recording why there is none. Never throws. */
  private async tryOnce(id: string, t: Tracked): Promise<Lease | undefined> {
    const iface = this.host.interfaceOf(id);
    if (!iface) {
      this.tracked.delete(id);
      return undefined;
    }
    const opts = { ...iface, timeoutMs: this.timeoutMs };
    const now = Date.now();
    try {
      if (!t.lost && now < t.lease.expiresAt) return await this.wire.renew(opts, t.lease, now);
      const next = await this.wire.acquire({ ...opts, requestedAddress: t.lease.address });
      if (next.address !== t.lease.address) {
        await this.wire.release(opts, next);
        throw new SyError('SY_KERNEL', `DHCP server "${next.serverId}" offers ${next.address} instead; delete and create the endpoint to take a new address`);
      }
      return next;
    } catch (e) {
      if (this.tracked.get(id) !== t) return undefined;
      const why = (e as Error).message;
      const failedAt = Date.now();
      const lost = isDhcpRefusal(e)
        ? `DHCP server refused the lease of ${t.lease.address} (${why}); the address is not leased any more`
        : (t.lost ?? (failedAt >= t.lease.expiresAt ? `the DHCP lease of ${t.lease.address} expired at ${new Date(t.lease.expiresAt).toISOString()} with no server granting it again` : undefined));
      this.tracked.set(id, { lease: t.lease, failedAt, ...(lost ? { lost, lastError: why } : {}) });
      this.log.warn(`endpoint ${id}: DHCP ${lost ? `${lost}; last attempt: ${why}` : `renewal of ${t.lease.address} failed, tried again later: ${why}`}`);
      return undefined;
    }
  }
}
