/**
 * The messages a DHCP client sends (RFC 2131 4.4) and how it recognises the server's answers: pure,
 * no I/O. The exchange program (exchange.ts) sends these; tests read them without root.
 */
import { SyError } from '../errors.js';
import { DhcpOption, isIpv4, isMac, type DhcpMessageType, type DhcpOptions, type DhcpPacket } from './packet.js';

/** Who the client is: its MAC and, optionally, a hostname (option 12) and a client identifier (option 61). */
export interface ClientIdentity {
  mac: string;
  hostname?: string;
  /** sent as option 61 of type 0 (RFC 2132 9.14: not a hardware address) followed by these bytes (UTF-8) */
  clientId?: string;
}

/** What the client asks the server for (option 55): mask, router, DNS, domain, lease, server id, T1, T2. */
export const PARAMETERS: readonly number[] = [
  DhcpOption.subnetMask,
  DhcpOption.routers,
  DhcpOption.dnsServers,
  DhcpOption.domainName,
  DhcpOption.leaseSeconds,
  DhcpOption.serverId,
  DhcpOption.renewalSeconds,
  DhcpOption.rebindingSeconds,
];

/** Checks an identity before anything is sent, so a bad MAC or hostname is the caller's error, not the wire's. */
export function checkIdentity(id: ClientIdentity): void {
  if (!isMac(id.mac)) throw new SyError('SY_BAD_REQUEST', `"${id.mac}" is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  if (id.hostname !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,253})$/.test(id.hostname)) {
    throw new SyError('SY_BAD_REQUEST', `"${id.hostname}" is not a hostname DHCP can carry (letters, digits, '.', '-'; at most 254)`);
  }
  if (id.clientId !== undefined && (id.clientId.length === 0 || Buffer.byteLength(id.clientId, 'utf8') > 254)) {
    throw new SyError('SY_BAD_REQUEST', `Client identifier "${id.clientId}" must be 1-254 bytes`);
  }
}

function identityOptions(id: ClientIdentity): DhcpOptions {
  return {
    ...(id.clientId !== undefined ? { clientId: Uint8Array.from([0, ...Buffer.from(id.clientId, 'utf8')]) } : {}),
    ...(id.hostname !== undefined ? { hostname: id.hostname } : {}),
  };
}

function clientPacket(id: ClientIdentity, xid: number, secs: number, fields: { ciaddr?: string; broadcast: boolean }, options: DhcpOptions): DhcpPacket {
  return {
    op: 'request',
    hops: 0,
    xid,
    secs: Math.min(Math.max(0, Math.floor(secs)), 0xffff),
    broadcast: fields.broadcast,
    ciaddr: fields.ciaddr ?? '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: id.mac.toLowerCase(),
    sname: '',
    file: '',
    options,
  };
}

/** DISCOVER (INIT): broadcast, with the address the client would like (a hint the server may ignore). */
export function discover(id: ClientIdentity, xid: number, secs: number, requestedAddress?: string): DhcpPacket {
  return clientPacket(id, xid, secs, { broadcast: true }, {
    messageType: 'DISCOVER',
    ...identityOptions(id),
    ...(requestedAddress ? { requestedAddress } : {}),
    parameterRequestList: [...PARAMETERS],
  });
}

/** REQUEST in SELECTING: takes `offer` from the server that made it (same xid as the DISCOVER). */
export function selectRequest(id: ClientIdentity, xid: number, secs: number, offer: DhcpPacket): DhcpPacket {
  const serverId = offer.options.serverId;
  if (!serverId) throw new SyError('SY_KERNEL', `DHCP offer of "${offer.yiaddr}" names no server (option 54)`);
  return clientPacket(id, xid, secs, { broadcast: true }, {
    messageType: 'REQUEST',
    ...identityOptions(id),
    requestedAddress: offer.yiaddr,
    serverId,
    parameterRequestList: [...PARAMETERS],
  });
}

/** REQUEST in INIT-REBOOT: asks any server to confirm an address the client had; a server that knows better NAKs. */
export function initRebootRequest(id: ClientIdentity, xid: number, secs: number, address: string): DhcpPacket {
  return clientPacket(id, xid, secs, { broadcast: true }, {
    messageType: 'REQUEST',
    ...identityOptions(id),
    requestedAddress: address,
    parameterRequestList: [...PARAMETERS],
  });
}

/**
 * REQUEST in RENEWING (unicast to the server) or REBINDING (broadcast): the address in ciaddr, no
 * server identifier and no requested address (RFC 2131 4.3.2). The client has its address, so the
 * answer comes unicast (no broadcast flag).
 */
export function extendRequest(id: ClientIdentity, xid: number, secs: number, address: string): DhcpPacket {
  return clientPacket(id, xid, secs, { ciaddr: address, broadcast: false }, {
    messageType: 'REQUEST',
    ...identityOptions(id),
    parameterRequestList: [...PARAMETERS],
  });
}

/** RELEASE: unicast to the server that granted the lease, naming it (option 54). */
export function release(id: ClientIdentity, xid: number, address: string, serverId: string): DhcpPacket {
  return clientPacket(id, xid, 0, { ciaddr: address, broadcast: false }, { messageType: 'RELEASE', ...identityOptions(id), serverId });
}

/** Whether `reply` answers our transaction `xid` for `mac` with one of `types` (from `serverId` when given). */
export function answers(reply: DhcpPacket, xid: number, mac: string, types: readonly DhcpMessageType[], serverId?: string): boolean {
  if (reply.op !== 'reply' || reply.xid !== xid || reply.chaddr !== mac.toLowerCase()) return false;
  const t = reply.options.messageType;
  if (t === undefined || !types.includes(t)) return false;
  return serverId === undefined || reply.options.serverId === undefined || reply.options.serverId === serverId;
}

export function checkAddress(addr: string, what: string): void {
  if (!isIpv4(addr)) throw new SyError('SY_BAD_REQUEST', `${what} "${addr}" is not an IPv4 address`);
}
