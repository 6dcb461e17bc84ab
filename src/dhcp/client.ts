/**
 * Switchyard's DHCP client for endpoints of Transparent networks: acquire, renew and release leases
 * on an endpoint's interface inside its network namespace. Each transaction runs the exchange program
 * (exchange.ts) as a child under `nsenter --net=PATH` through the process boundary (run.ts), because
 * hostd must never switch namespaces itself; the child binds its UDP socket to the interface
 * (udp-socket.ts says why) and answers in JSON. Nothing runs between transactions: hostd keeps the
 * Lease (plain JSON) and schedules renewals with schedule.ts.
 *
 * For hostd: before acquire the interface must be in the namespace, up, with its MAC; afterwards
 * hostd configures the lease's address/prefix and default route. Persist the Lease with the endpoint:
 * after a restart a lease before expiresAt is simply kept and scheduled; one past it means removing
 * the address and acquiring with requestedAddress. Release before removing the address. Run one
 * exchange at a time per endpoint (they share UDP port 68 of the namespace). The server must honour
 * the BROADCAST flag (RFC 2131 4.1; dnsmasq, ISC and Windows servers do): until the address is
 * configured, the kernel drops answers unicast to it.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { run } from '../dataplane/run.js';
import { SyError, type ErrorCode } from '../errors.js';
import { leaseFromAck, type Lease } from './lease.js';
import { checkAddress, checkIdentity, type ClientIdentity } from './messages.js';
import { decodeDhcp } from './packet.js';
import type { ExchangeRequest, ExchangeResult } from './transaction.js';

export type { Lease } from './lease.js';

/** The endpoint interface a lease belongs to. */
export interface DhcpInterface {
  /** network namespace path, e.g. /run/netns/NAME or /proc/PID/ns/net */
  nsPath: string;
  ifName: string;
  /** the interface's MAC (sent as chaddr; the server answers to it) */
  mac: string;
  hostname?: string;
  clientId?: string;
  /** bound of one transaction, retransmits included (default 6 s) */
  timeoutMs?: number;
}

export interface AcquireOptions extends DhcpInterface {
  /** an address to ask for first, e.g. the one of a lease that expired while hostd was down */
  requestedAddress?: string;
}

export const DEFAULT_TIMEOUT_MS = 6_000;
/** Above the transaction's own bound: the child's start (~0.1 s) and a margin before it is killed. */
const CHILD_MARGIN_MS = 5_000;
/** The exchange program beside this module, wherever the build put it (dist/, .build-*, ...). */
export const EXCHANGE_PROGRAM = fileURLToPath(new URL('./exchange.js', import.meta.url));

const refusals = new WeakSet<SyError>();

/** A server's refusal (NAK) as the client reports it: for stand-ins of the client in tests without root. */
export function dhcpRefusal(message: string): SyError {
  const err = new SyError('SY_KERNEL', message);
  refusals.add(err);
  return err;
}

/** Whether `err` is a DHCP server's refusal (NAK): the address must not be used; acquire anew without it. */
export function isDhcpRefusal(err: unknown): boolean {
  return err instanceof SyError && refusals.has(err);
}

/**
 * Leases an address for `ifName` (DISCOVER/OFFER/REQUEST/ACK; with `requestedAddress`, first an
 * INIT-REBOOT REQUEST for it for a quarter of the bound (1-2 s), then DISCOVER hinting it). The interface must
 * exist in the namespace, be up, carry `mac` and may have no address yet; the caller configures the
 * lease's address, prefix and gateway afterwards. Rejects with SY_TIMEOUT when no server answers
 * within `timeoutMs`, SY_KERNEL when the server refuses (isDhcpRefusal) or the socket fails,
 * SY_NAMESPACE_NOT_FOUND, SY_BAD_REQUEST for a bad MAC / hostname. The child is gone when it settles.
 */
export async function acquireLease(opts: AcquireOptions): Promise<Lease> {
  if (opts.requestedAddress !== undefined) checkAddress(opts.requestedAddress, 'Requested address');
  const r = await exchange(opts, { op: 'acquire', ...(opts.requestedAddress ? { requestedAddress: opts.requestedAddress } : {}) });
  return leaseOf(r, opts);
}

/**
 * Extends `lease`: a REQUEST unicast to its server before `rebindAt` (RENEWING), broadcast to any
 * server after it (REBINDING). Resolves with the extended lease (new times; the server's current
 * options). Rejects with SY_KERNEL (isDhcpRefusal) on a NAK: the address must be removed and a new
 * lease acquired; SY_TIMEOUT when no server answers (retry per schedule.ts until expiresAt); SY_KERNEL
 * when the lease has already expired (acquire anew, with requestedAddress = lease.address).
 * The address must still be configured on the interface (the server answers to it).
 */
export async function renewLease(opts: DhcpInterface, lease: Lease, now = Date.now()): Promise<Lease> {
  if (now >= lease.expiresAt) {
    throw new SyError('SY_KERNEL', `The DHCP lease of "${lease.address}" on "${opts.ifName}" expired at ${new Date(lease.expiresAt).toISOString()}; acquire a new one`);
  }
  const op = now < lease.rebindAt ? 'renew' : 'rebind';
  const r = await exchange(opts, { op, address: lease.address, serverId: lease.serverId });
  const next = leaseOf(r, opts);
  if (next.address !== lease.address) {
    throw new SyError('SY_KERNEL', `DHCP server "${next.serverId}" answered the renewal of "${lease.address}" on "${opts.ifName}" with "${next.address}"`);
  }
  return next;
}

/**
 * Gives `lease` back (one DHCPRELEASE unicast to its server; no answer exists). Best effort: resolves
 * false instead of throwing when the namespace or interface is gone or the packet cannot be sent,
 * true when it was sent. Call it before removing the address (the release is sent from it). Calling
 * it twice is harmless.
 */
export async function releaseLease(opts: DhcpInterface, lease: Lease): Promise<boolean> {
  if (!existsSync(opts.nsPath)) return false;
  try {
    await exchange(opts, { op: 'release', address: lease.address, serverId: lease.serverId });
    return true;
  } catch {
    return false;
  }
}

function identityOf(opts: DhcpInterface): ClientIdentity {
  const id: ClientIdentity = {
    mac: opts.mac.toLowerCase(),
    ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
    ...(opts.clientId !== undefined ? { clientId: opts.clientId } : {}),
  };
  checkIdentity(id);
  return id;
}

async function exchange(opts: DhcpInterface, what: Pick<ExchangeRequest, 'op' | 'requestedAddress' | 'address' | 'serverId'>): Promise<ExchangeResult & { ok: true }> {
  const identity = identityOf(opts);
  if (!/^[^\s/:\0]{1,15}$/.test(opts.ifName)) throw new SyError('SY_INVALID_NAME', `"${opts.ifName}" is not an interface name`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 600_000) throw new SyError('SY_BAD_REQUEST', `DHCP timeout ${timeoutMs} ms is not in 100-600000`);
  if (!existsSync(opts.nsPath)) throw new SyError('SY_NAMESPACE_NOT_FOUND', `Network namespace "${opts.nsPath}" does not exist`);
  const req: ExchangeRequest = { ...what, ifName: opts.ifName, identity, timeoutMs };
  const argv = ['nsenter', `--net=${opts.nsPath}`, '--', process.execPath, EXCHANGE_PROGRAM];
  let stdout: string;
  try {
    ({ stdout } = await run(argv, { stdin: JSON.stringify(req), timeoutMs: timeoutMs + CHILD_MARGIN_MS }));
  } catch (e) {
    if (e instanceof SyError && e.code === 'SY_TIMEOUT') {
      // run() killed the child (nsenter execs node: the same pid), so nothing is left running.
      throw new SyError('SY_TIMEOUT', `No DHCP answer on "${opts.ifName}" within ${timeoutMs / 1000} s (the exchange did not finish and was stopped)`, e.command);
    }
    throw e;
  }
  let r: ExchangeResult;
  try {
    r = JSON.parse(stdout) as ExchangeResult;
  } catch {
    throw new SyError('SY_INTERNAL', `The DHCP exchange on "${opts.ifName}" answered no JSON: ${stdout.slice(0, 200)}`);
  }
  if (!r.ok) {
    const err = new SyError(r.code as ErrorCode, r.message);
    if (r.nak) refusals.add(err);
    throw err;
  }
  return r;
}

function leaseOf(r: ExchangeResult & { ok: true }, opts: DhcpInterface): Lease {
  if (!r.ackHex || r.sentAt === undefined) throw new SyError('SY_INTERNAL', `The DHCP exchange on "${opts.ifName}" answered without an ACK`);
  return leaseFromAck(decodeDhcp(Buffer.from(r.ackHex, 'hex')), opts.mac, r.sentAt, r.from);
}
