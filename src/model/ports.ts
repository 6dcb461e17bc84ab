/**
 * Port mappings: parsing HCN PortMapping policies, finding conflicts (with other mappings and with
 * sockets listening on the host) and choosing free host ports for ExternalPort 0. Pure.
 */
import { SyError } from '../errors.js';
import { parseDoc, PortMappingSettings } from '../hcn/schema.js';
import { isIPv4 } from './ipv4.js';
import type { PortMapping, Protocol } from './records.js';

/** A socket that holds a host port (a published port must not shadow a listening process). */
export interface ListeningSocket {
  protocol: 6 | 17 | 132;
  address: string;
  port: number;
}

export const EPHEMERAL_FIRST = 49152;
export const EPHEMERAL_LAST = 65535;

const PROTOCOLS: Record<string, Protocol> = { '6': 6, TCP: 6, '17': 17, UDP: 17, '132': 132, SCTP: 132 };
export const PROTOCOL_NAMES: Record<Protocol, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** A requested mapping before a host port is chosen (externalPort 0 = choose one). */
export type PortRequest = Omit<PortMapping, 'ephemeral'>;

export function parsePortMapping(settings: unknown, where: string): PortRequest {
  const s = parseDoc(PortMappingSettings, settings ?? {}, `${where} (PortMapping settings)`);
  const protoKey = String(s.Protocol ?? 6).toUpperCase();
  const protocol = PROTOCOLS[protoKey];
  if (!protocol) throw new SyError('SY_INVALID_POLICY', `${where}: Protocol "${s.Protocol}" cannot be mapped; use 6 (TCP), 17 (UDP) or 132 (SCTP)`);
  const count = s.PortCount ?? 1;
  const ext = s.ExternalPort ?? 0;
  if (!Number.isInteger(s.InternalPort) || s.InternalPort < 1 || s.InternalPort > 65535) {
    throw new SyError('SY_INVALID_POLICY', `${where}: InternalPort ${s.InternalPort} is not a port (1-65535)`);
  }
  if (ext < 0 || ext > 65535) throw new SyError('SY_INVALID_POLICY', `${where}: ExternalPort ${ext} is not a port (0-65535, 0 picks a free one)`);
  if (count < 1 || s.InternalPort + count - 1 > 65535 || (ext > 0 && ext + count - 1 > 65535)) {
    throw new SyError('SY_INVALID_POLICY', `${where}: PortCount ${count} runs past port 65535`);
  }
  if (count > 4096) throw new SyError('SY_INVALID_POLICY', `${where}: PortCount ${count} is more than 4096 ports`);
  const flags = s.Flags ?? 0;
  if (flags & ~1) throw new SyError('SY_NOT_SUPPORTED', `${where}: PortMapping Flags ${flags} are not supported (IPv6 mappings land with IPv6 networks)`);
  const vip = s.VIP ?? '';
  if (vip !== '' && vip !== '0.0.0.0' && !isIPv4(vip)) throw new SyError('SY_INVALID_POLICY', `${where}: VIP "${vip}" is not an IPv4 address`);
  return {
    protocol,
    internalPort: s.InternalPort,
    externalPort: ext,
    count,
    ...(vip && vip !== '0.0.0.0' ? { hostIp: vip } : {}),
    flags,
  };
}

function rangesOverlap(a1: number, n1: number, a2: number, n2: number): boolean {
  return a1 < a2 + n2 && a2 < a1 + n1;
}

/** True when two mappings would catch the same packets. */
export function mappingsClash(a: PortRequest, b: PortRequest): boolean {
  return (
    a.protocol === b.protocol &&
    (!a.hostIp || !b.hostIp || a.hostIp === b.hostIp) &&
    rangesOverlap(a.externalPort, a.count, b.externalPort, b.count)
  );
}

/** True when a published mapping would shadow the socket `s`. */
export function socketClashes(m: PortRequest, s: ListeningSocket): boolean {
  if (s.protocol !== m.protocol || s.port < m.externalPort || s.port >= m.externalPort + m.count) return false;
  const wildcard = s.address === '0.0.0.0' || s.address === '::';
  return !m.hostIp || wildcard || s.address === m.hostIp;
}

export function describe(m: PortRequest): string {
  const ports = m.count > 1 ? `${m.externalPort}-${m.externalPort + m.count - 1}` : String(m.externalPort);
  return `${m.hostIp ? `${m.hostIp}:` : ''}${ports}/${PROTOCOL_NAMES[m.protocol]}`;
}

/** Answers "which published mapping would this one clash with?" (hostd asks its port index). */
export type PublishedLookup = (candidate: PortRequest) => PortRequest | undefined;

/** The lookup over a plain list of mappings. */
export function publishedIn(taken: PortRequest[]): PublishedLookup {
  return (c) => taken.find((t) => mappingsClash(t, c));
}

/**
 * Resolves requested mappings against what is taken: fixed ports are checked, ExternalPort 0 gets
 * the first free block from `cursor` on (wrapping), so freed ports are not reused at once.
 * Throws SY_PORT_IN_USE / SY_PORTS_EXHAUSTED; returns mappings in request order.
 */
export function resolvePortMappings(
  requests: PortRequest[],
  published: PublishedLookup,
  listening: ListeningSocket[],
  cursor: number,
): { mappings: PortMapping[]; cursor: number } {
  const busy: PortRequest[] = [];
  const clash = (c: PortRequest) => published(c) ?? busy.find((t) => mappingsClash(t, c));
  const out: PortMapping[] = [];
  for (const r of requests) {
    if (r.externalPort !== 0) {
      const other = clash(r);
      if (other) throw new SyError('SY_PORT_IN_USE', `Host port ${describe(r)} is already published (${describe(other)})`);
      const sock = listening.find((s) => socketClashes(r, s));
      if (sock) throw new SyError('SY_PORT_IN_USE', `Host port ${describe(r)} is in use by a process listening on ${sock.address}:${sock.port}`);
      busy.push(r);
      out.push({ ...r, ephemeral: false });
      continue;
    }
    const span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
    let found = 0;
    for (let i = 0; i < span && !found; i++) {
      const port = EPHEMERAL_FIRST + ((cursor - EPHEMERAL_FIRST + i) % span + span) % span;
      if (port + r.count - 1 > EPHEMERAL_LAST) continue;
      const cand = { ...r, externalPort: port };
      if (!clash(cand) && !listening.some((s) => socketClashes(cand, s))) found = port;
    }
    if (!found) throw new SyError('SY_PORTS_EXHAUSTED', `No free host port for ${PROTOCOL_NAMES[r.protocol]} between ${EPHEMERAL_FIRST} and ${EPHEMERAL_LAST}`);
    const m = { ...r, externalPort: found };
    busy.push(m);
    out.push({ ...m, ephemeral: true });
    cursor = found + r.count;
  }
  return { mappings: out, cursor };
}
