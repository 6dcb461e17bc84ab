/**
 * One DHCP transaction on the wire, run by the exchange program inside the endpoint's namespace:
 * acquire (INIT-REBOOT when an address is asked for, then DISCOVER/OFFER/REQUEST/ACK), extend (REQUEST
 * unicast to the server when renewing, broadcast when rebinding) or release (one RELEASE). It answers
 * with the raw ACK, which the caller decodes into a Lease (lease.ts), or with an error code and message.
 *
 * Retransmits follow RFC 2131 4.1 scaled to a bound of seconds, not minutes: 1 s, 2 s, 4 s (±10%),
 * until the transaction's deadline.
 */
import { randomInt } from 'node:crypto';
import { SyError, type ErrorCode } from '../errors.js';
import { answers, discover, extendRequest, initRebootRequest, release, selectRequest, type ClientIdentity } from './messages.js';
import { decodeDhcp, encodeDhcp, type DhcpMessageType, type DhcpPacket } from './packet.js';
import { DeviceUdpSocket } from './udp-socket.js';

/** What the exchange program is asked to do (JSON on its stdin). */
export interface ExchangeRequest {
  op: 'acquire' | 'renew' | 'rebind' | 'release';
  ifName: string;
  identity: ClientIdentity;
  timeoutMs: number;
  /** acquire: the address to ask for first (INIT-REBOOT) */
  requestedAddress?: string;
  /** renew, rebind, release: the lease's address and server */
  address?: string;
  serverId?: string;
}

/** What it answers (JSON on its stdout). */
export type ExchangeResult =
  | { ok: true; op: ExchangeRequest['op']; ackHex?: string; from?: string; sentAt?: number; elapsedMs: number }
  | { ok: false; code: ErrorCode; message: string; nak: boolean; elapsedMs: number };

const SERVER_PORT = 67;
const BROADCAST = '255.255.255.255';
/**
 * How long INIT-REBOOT may take before the client falls back to DISCOVER: a server that is not
 * authoritative stays silent for a client it does not know, and the DISCOVER that follows may wait
 * for the server's conflict check (dnsmasq: ~3 s of ARP), so this takes a quarter of the bound,
 * 1-2 s: a request and one retransmit.
 */
function rebootWindowMs(timeoutMs: number): number {
  return Math.min(2_000, Math.max(1_000, timeoutMs / 4));
}

/** Raised inside a transaction when the server refuses (NAK); carried out as `nak: true`. */
class Refused extends SyError {}

interface Exchange {
  sock: DeviceUdpSocket;
  id: ClientIdentity;
  xid: number;
  started: number;
}

/** Runs one transaction. Never throws: every failure becomes an ExchangeResult with ok false. */
export function runTransaction(req: ExchangeRequest): ExchangeResult {
  const started = Date.now();
  let sock: DeviceUdpSocket | null = null;
  try {
    sock = new DeviceUdpSocket(req.ifName);
    const x: Exchange = { sock, id: req.identity, xid: randomInt(0, 2 ** 32 - 1), started };
    const deadline = started + req.timeoutMs;
    switch (req.op) {
      case 'acquire':
        return done(req, started, acquire(x, req, deadline));
      case 'renew':
      case 'rebind': {
        const address = need(req.address, 'address');
        const to = req.op === 'renew' ? need(req.serverId, 'serverId') : BROADCAST;
        const what = `${req.op} "${address}"`;
        return done(req, started, transact(x, () => extendRequest(x.id, x.xid, secs(x), address), to, ['ACK', 'NAK'], deadline, what, req.op === 'renew' ? to : undefined));
      }
      case 'release': {
        const serverId = need(req.serverId, 'serverId');
        sock.send(encodeDhcp(release(x.id, x.xid, need(req.address, 'address'), serverId)), serverId, SERVER_PORT);
        return { ok: true, op: req.op, elapsedMs: Date.now() - started };
      }
      default:
        throw new SyError('SY_BAD_REQUEST', `Unknown DHCP exchange "${String(req.op)}"`);
    }
  } catch (e) {
    const err = e instanceof SyError ? e : new SyError('SY_INTERNAL', e instanceof Error ? e.message : String(e));
    return { ok: false, code: err.code, message: err.message, nak: e instanceof Refused, elapsedMs: Date.now() - started };
  } finally {
    sock?.close();
  }
}

function need(v: string | undefined, what: string): string {
  if (!v) throw new SyError('SY_BAD_REQUEST', `The DHCP exchange needs "${what}"`);
  return v;
}

function secs(x: Exchange): number {
  return (Date.now() - x.started) / 1000;
}

interface Answer {
  ack: DhcpPacket;
  raw: Buffer;
  from: string;
  sentAt: number;
}

function done(req: ExchangeRequest, started: number, a: Answer): ExchangeResult {
  return { ok: true, op: req.op, ackHex: a.raw.toString('hex'), from: a.from, sentAt: a.sentAt, elapsedMs: Date.now() - started };
}

function acquire(x: Exchange, req: ExchangeRequest, deadline: number): Answer {
  const ifName = req.ifName;
  if (req.requestedAddress) {
    const address = req.requestedAddress;
    const rebootUntil = Math.min(deadline, x.started + rebootWindowMs(req.timeoutMs));
    const a = exchange(x, () => initRebootRequest(x.id, x.xid, secs(x), address), BROADCAST, ['ACK', 'NAK'], rebootUntil);
    if (a) return accepted(a, `keep "${address}" on "${ifName}"`);
    // No server confirmed or refused: start over with a new transaction, still hoping for the address.
    x.xid = randomInt(0, 2 ** 32 - 1);
  }
  const offer = exchange(x, () => discover(x.id, x.xid, secs(x), req.requestedAddress), BROADCAST, ['OFFER'], deadline);
  if (!offer) throw noAnswer(ifName, x, deadline);
  const a = exchange(x, () => selectRequest(x.id, x.xid, secs(x), offer.ack), BROADCAST, ['ACK', 'NAK'], deadline, offer.ack.options.serverId);
  if (!a) throw noAnswer(ifName, x, deadline, ` (an offer of "${offer.ack.yiaddr}" came from "${offer.ack.options.serverId ?? offer.from}", but no ACK)`);
  return accepted(a, `lease "${offer.ack.yiaddr}" on "${ifName}"`);
}

function transact(x: Exchange, build: () => DhcpPacket, to: string, types: DhcpMessageType[], deadline: number, what: string, serverId?: string): Answer {
  const a = exchange(x, build, to, types, deadline, serverId);
  const s = Math.round((deadline - x.started) / 100) / 10;
  if (!a) throw new SyError('SY_TIMEOUT', `No DHCP answer to ${what} on "${x.sock.ifName}" within ${s} s (sent to ${to === BROADCAST ? 'any server' : `"${to}"`})`);
  return accepted(a, `${what} on "${x.sock.ifName}"`);
}

function accepted(a: Answer, what: string): Answer {
  if (a.ack.options.messageType === 'NAK') {
    const server = a.ack.options.serverId ?? a.from;
    throw new Refused('SY_KERNEL', `DHCP server "${server}" refused to ${what} (NAK${a.ack.options.message ? `: ${a.ack.options.message}` : ''})`);
  }
  return a;
}

function noAnswer(ifName: string, x: Exchange, deadline: number, detail = ''): SyError {
  const s = Math.round((deadline - x.started) / 100) / 10;
  return new SyError('SY_TIMEOUT', `No DHCP answer on "${ifName}" within ${s} s${detail}; is a DHCP server reachable on that network?`);
}

/**
 * Sends what `build` makes (rebuilt each time, so `secs` grows) and waits for an answer of one of
 * `types`, retransmitting, until `until`. null when none came; packets that are malformed or answer
 * someone else are ignored.
 */
function exchange(x: Exchange, build: () => DhcpPacket, to: string, types: DhcpMessageType[], until: number, serverId?: string): Answer | null {
  let interval = 1_000;
  // Lease times count from the first send: an ACK may answer any of the retransmits.
  const firstSent = Date.now();
  while (Date.now() < until) {
    const sentAt = Date.now();
    x.sock.send(encodeDhcp(build()), to, SERVER_PORT);
    const waitUntil = Math.min(until, sentAt + interval * (0.9 + Math.random() * 0.2));
    interval = Math.min(interval * 2, 4_000);
    for (;;) {
      const left = waitUntil - Date.now();
      if (left <= 0) break;
      const d = x.sock.receive(left);
      if (!d) break;
      if (d.port !== SERVER_PORT) continue;
      let p: DhcpPacket;
      try {
        p = decodeDhcp(d.data);
      } catch {
        continue;
      }
      if (answers(p, x.xid, x.id.mac, types, serverId)) return { ack: p, raw: d.data, from: d.from, sentAt: firstSent };
    }
  }
  return null;
}
