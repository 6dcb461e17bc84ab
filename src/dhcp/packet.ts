/**
 * The BOOTP/DHCP packet codec (RFC 951, RFC 2131, options of RFC 2132): pure, no I/O. Only Ethernet
 * clients (htype 1, hlen 6) are supported, which is all a veth or macvlan endpoint can be.
 *
 * decodeDhcp is strict: a packet that is short, has a wrong magic cookie, an option running past the
 * end, no end option, or a known option of the wrong length or content is refused with SyError SY_BAD_REQUEST,
 * and nothing but a SyError ever leaves it, whatever the bytes. Options split into several pieces
 * (RFC 3396) are joined before they are read; options we do not know are kept as raw bytes so that a
 * packet decodes and encodes back to the same options. Option overload (52) is not interpreted.
 */
import { SyError } from '../errors.js';

export type DhcpMessageType = 'DISCOVER' | 'OFFER' | 'REQUEST' | 'DECLINE' | 'ACK' | 'NAK' | 'RELEASE' | 'INFORM';
const MESSAGE_TYPES: readonly DhcpMessageType[] = ['DISCOVER', 'OFFER', 'REQUEST', 'DECLINE', 'ACK', 'NAK', 'RELEASE', 'INFORM'];

/** Option codes this codec reads and writes by name (RFC 2132). */
export const DhcpOption = {
  subnetMask: 1,
  routers: 3,
  dnsServers: 6,
  hostname: 12,
  domainName: 15,
  requestedAddress: 50,
  leaseSeconds: 51,
  messageType: 53,
  serverId: 54,
  parameterRequestList: 55,
  message: 56,
  renewalSeconds: 58,
  rebindingSeconds: 59,
  clientId: 61,
} as const;

export interface DhcpOptions {
  messageType?: DhcpMessageType;
  subnetMask?: string;
  routers?: string[];
  dnsServers?: string[];
  hostname?: string;
  domainName?: string;
  requestedAddress?: string;
  leaseSeconds?: number;
  serverId?: string;
  parameterRequestList?: number[];
  /** option 56: the server's explanation, e.g. in a NAK */
  message?: string;
  renewalSeconds?: number;
  rebindingSeconds?: number;
  /** option 61 as sent: its first byte is the type (1 = Ethernet MAC follows, 0 = anything else) */
  clientId?: Uint8Array;
  /** options without a name here, in the order they came, as raw bytes */
  other?: { code: number; data: Uint8Array }[];
}

export interface DhcpPacket {
  op: 'request' | 'reply';
  hops: number;
  xid: number;
  secs: number;
  /** the BROADCAST flag (RFC 2131 4.1): the client cannot receive unicast before it has its address */
  broadcast: boolean;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** client hardware address, lower-case aa:bb:cc:dd:ee:ff */
  chaddr: string;
  sname: string;
  file: string;
  options: DhcpOptions;
}

const MAGIC = 0x63825363;
const HEADER_BYTES = 236;
const OPTIONS_AT = HEADER_BYTES + 4;
/** RFC 1542 2.1: relays may drop BOOTP messages shorter than 300 bytes, so clients pad to that. */
const MIN_PACKET_BYTES = 300;
/** A DHCP message on Ethernet never exceeds one unfragmented IP datagram. */
const MAX_PACKET_BYTES = 65_507;
const END = 255;
const PAD = 0;

function malformed(why: string): SyError {
  return new SyError('SY_BAD_REQUEST', `Malformed DHCP packet: ${why}`);
}

function invalid(why: string): SyError {
  return new SyError('SY_BAD_REQUEST', `Cannot encode DHCP packet: ${why}`);
}

// --- small value codecs ------------------------------------------------------------------------------

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function isIpv4(s: string): boolean {
  return IPV4.test(s);
}

export function isMac(s: string): boolean {
  return MAC.test(s.toLowerCase());
}

function writeIpv4(buf: Buffer, at: number, addr: string, field: string): void {
  if (!IPV4.test(addr)) throw invalid(`${field} "${addr}" is not an IPv4 address`);
  const p = addr.split('.');
  for (let i = 0; i < 4; i++) buf[at + i] = Number(p[i]);
}

function readIpv4(buf: Uint8Array, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

/** Prefix length of a contiguous netmask ("255.255.255.0" → 24), or null when it is not contiguous. */
export function prefixOfMask(mask: string): number | null {
  if (!IPV4.test(mask)) return null;
  const n = mask.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  for (let len = 0; len <= 32; len++) {
    const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    if (m === n) return len;
  }
  return null;
}

/** Text options (hostname, domain, message): printable ASCII; trailing NULs (some servers send them) dropped. */
function readText(data: Uint8Array, name: string): string {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  if (end === 0) throw malformed(`option ${name} is empty`);
  for (let i = 0; i < end; i++) {
    const c = data[i]!;
    if (c < 0x20 || c > 0x7e) throw malformed(`option ${name} holds a byte 0x${c.toString(16).padStart(2, '0')} that is not printable ASCII`);
  }
  return Buffer.from(data.subarray(0, end)).toString('latin1');
}

function textBytes(s: string, name: string): Uint8Array {
  if (s.length === 0) throw invalid(`option ${name} is empty`);
  if (!/^[\x20-\x7e]+$/.test(s)) throw invalid(`option ${name} "${s}" is not printable ASCII`);
  return Buffer.from(s, 'latin1');
}

function addressList(data: Uint8Array, name: string): string[] {
  if (data.length === 0 || data.length % 4 !== 0) throw malformed(`option ${name} has length ${data.length}, not a non-zero multiple of 4`);
  const out: string[] = [];
  for (let i = 0; i < data.length; i += 4) out.push(readIpv4(data, i));
  return out;
}

function exactly(data: Uint8Array, len: number, name: string): void {
  if (data.length !== len) throw malformed(`option ${name} has length ${data.length}, expected ${len}`);
}

function u32(data: Uint8Array): number {
  return ((data[0]! << 24) | (data[1]! << 16) | (data[2]! << 8) | data[3]!) >>> 0;
}

// --- decode ------------------------------------------------------------------------------------------

/** Decodes one BOOTP/DHCP message; rejects anything malformed with SyError SY_BAD_REQUEST. */
export function decodeDhcp(bytes: Uint8Array): DhcpPacket {
  try {
    return decodeStrict(bytes);
  } catch (e) {
    if (e instanceof SyError) throw e;
    // A defect here must not surface as a crash of the caller reading packets off the wire.
    throw malformed(`unexpected decoder failure: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function decodeStrict(bytes: Uint8Array): DhcpPacket {
  if (!(bytes instanceof Uint8Array)) throw malformed('not a byte array');
  if (bytes.length < OPTIONS_AT) throw malformed(`${bytes.length} bytes, shorter than the ${OPTIONS_AT} of a header with magic cookie`);
  if (bytes.length > MAX_PACKET_BYTES) throw malformed(`${bytes.length} bytes, longer than a UDP datagram`);
  const op = bytes[0];
  if (op !== 1 && op !== 2) throw malformed(`op ${op} is neither 1 (request) nor 2 (reply)`);
  if (bytes[1] !== 1 || bytes[2] !== 6) throw malformed(`hardware type ${bytes[1]} / length ${bytes[2]}: only Ethernet (1 / 6) is supported`);
  if (u32(bytes.subarray(236, 240)) !== MAGIC) throw malformed('no DHCP magic cookie (99.130.83.99) after the BOOTP header');
  const flags = (bytes[10]! << 8) | bytes[11]!;
  const chaddr = Array.from(bytes.subarray(28, 34), (b) => b.toString(16).padStart(2, '0')).join(':');

  // Collect each option's data, joining repeated codes (RFC 3396), in first-seen order.
  const pieces = new Map<number, Uint8Array[]>();
  let i = OPTIONS_AT;
  let ended = false;
  while (i < bytes.length) {
    const code = bytes[i]!;
    if (code === PAD) {
      i++;
      continue;
    }
    if (code === END) {
      ended = true;
      break;
    }
    if (i + 1 >= bytes.length) throw malformed(`option ${code} at byte ${i} has no length`);
    const len = bytes[i + 1]!;
    if (i + 2 + len > bytes.length) throw malformed(`option ${code} at byte ${i} runs past the end of the packet`);
    const list = pieces.get(code) ?? [];
    list.push(bytes.subarray(i + 2, i + 2 + len));
    pieces.set(code, list);
    i += 2 + len;
  }
  if (!ended) throw malformed('no end option (255)');
  // What follows the end option is not read: it should be padding, but servers and relays that
  // leave other bytes there exist, and refusing their answers would leave the endpoint without one.

  const options: DhcpOptions = {};
  for (const [code, parts] of pieces) {
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    readOption(options, code, data);
  }
  return {
    op: op === 1 ? 'request' : 'reply',
    hops: bytes[3]!,
    xid: u32(bytes.subarray(4, 8)),
    secs: (bytes[8]! << 8) | bytes[9]!,
    broadcast: (flags & 0x8000) !== 0,
    ciaddr: readIpv4(bytes, 12),
    yiaddr: readIpv4(bytes, 16),
    siaddr: readIpv4(bytes, 20),
    giaddr: readIpv4(bytes, 24),
    chaddr,
    sname: cString(bytes.subarray(44, 108)),
    file: cString(bytes.subarray(108, 236)),
    options,
  };
}

/** sname and file: NUL-terminated; kept as latin1 text, whatever they hold (overload is not read). */
function cString(field: Uint8Array): string {
  const nul = field.indexOf(0);
  return Buffer.from(field.subarray(0, nul === -1 ? field.length : nul)).toString('latin1');
}

function readOption(o: DhcpOptions, code: number, data: Uint8Array): void {
  switch (code) {
    case DhcpOption.subnetMask:
      exactly(data, 4, 'subnet mask (1)');
      o.subnetMask = readIpv4(data, 0);
      return;
    case DhcpOption.routers:
      o.routers = addressList(data, 'routers (3)');
      return;
    case DhcpOption.dnsServers:
      o.dnsServers = addressList(data, 'DNS servers (6)');
      return;
    case DhcpOption.hostname:
      o.hostname = readText(data, 'hostname (12)');
      return;
    case DhcpOption.domainName:
      o.domainName = readText(data, 'domain name (15)');
      return;
    case DhcpOption.requestedAddress:
      exactly(data, 4, 'requested address (50)');
      o.requestedAddress = readIpv4(data, 0);
      return;
    case DhcpOption.leaseSeconds:
      exactly(data, 4, 'lease time (51)');
      o.leaseSeconds = u32(data);
      return;
    case DhcpOption.messageType: {
      exactly(data, 1, 'message type (53)');
      const t = MESSAGE_TYPES[data[0]! - 1];
      if (!t) throw malformed(`message type ${data[0]} is not one of 1-8`);
      o.messageType = t;
      return;
    }
    case DhcpOption.serverId:
      exactly(data, 4, 'server identifier (54)');
      o.serverId = readIpv4(data, 0);
      return;
    case DhcpOption.parameterRequestList:
      if (data.length === 0) throw malformed('option parameter request list (55) is empty');
      o.parameterRequestList = Array.from(data);
      return;
    case DhcpOption.message:
      o.message = readText(data, 'message (56)');
      return;
    case DhcpOption.renewalSeconds:
      exactly(data, 4, 'renewal time (58)');
      o.renewalSeconds = u32(data);
      return;
    case DhcpOption.rebindingSeconds:
      exactly(data, 4, 'rebinding time (59)');
      o.rebindingSeconds = u32(data);
      return;
    case DhcpOption.clientId:
      if (data.length < 2) throw malformed(`option client identifier (61) has length ${data.length}, at least 2 required`);
      o.clientId = Uint8Array.from(data);
      return;
    default:
      (o.other ??= []).push({ code, data: Uint8Array.from(data) });
  }
}

// --- encode ------------------------------------------------------------------------------------------

/** Encodes a packet (padded to 300 bytes); rejects values that cannot be sent with SyError SY_BAD_REQUEST. */
export function encodeDhcp(p: DhcpPacket): Buffer {
  const head = Buffer.alloc(OPTIONS_AT);
  head[0] = p.op === 'request' ? 1 : 2;
  head[1] = 1;
  head[2] = 6;
  head[3] = checkInt(p.hops, 0xff, 'hops');
  head.writeUInt32BE(checkInt(p.xid, 0xffffffff, 'xid'), 4);
  head.writeUInt16BE(checkInt(p.secs, 0xffff, 'secs'), 8);
  head.writeUInt16BE(p.broadcast ? 0x8000 : 0, 10);
  writeIpv4(head, 12, p.ciaddr, 'ciaddr');
  writeIpv4(head, 16, p.yiaddr, 'yiaddr');
  writeIpv4(head, 20, p.siaddr, 'siaddr');
  writeIpv4(head, 24, p.giaddr, 'giaddr');
  if (!isMac(p.chaddr)) throw invalid(`chaddr "${p.chaddr}" is not a MAC address`);
  Buffer.from(p.chaddr.replaceAll(':', ''), 'hex').copy(head, 28);
  writeField(head, 44, 64, p.sname, 'sname');
  writeField(head, 108, 128, p.file, 'file');
  head.writeUInt32BE(MAGIC, 236);

  const parts: Buffer[] = [head];
  const put = (code: number, data: Uint8Array) => {
    // Only options without a name here may be empty (the named ones are checked by their writers).
    if (data.length === 0) parts.push(Buffer.from([code, 0]));
    // Longer than one option can hold: split into pieces of 255 (RFC 3396).
    for (let at = 0; at < data.length; at += 255) {
      const piece = data.subarray(at, Math.min(at + 255, data.length));
      parts.push(Buffer.from([code, piece.length]), Buffer.from(piece));
    }
  };
  const o = p.options;
  // Message type first: RFC 2131 does not require it, but some servers look only there.
  if (o.messageType !== undefined) {
    const idx = MESSAGE_TYPES.indexOf(o.messageType);
    if (idx < 0) throw invalid(`message type "${String(o.messageType)}" is unknown`);
    put(DhcpOption.messageType, Uint8Array.of(idx + 1));
  }
  if (o.clientId !== undefined) {
    if (o.clientId.length < 2) throw invalid('client identifier needs a type byte and at least one more');
    put(DhcpOption.clientId, o.clientId);
  }
  if (o.requestedAddress !== undefined) put(DhcpOption.requestedAddress, addressBytes([o.requestedAddress], 'requested address'));
  if (o.serverId !== undefined) put(DhcpOption.serverId, addressBytes([o.serverId], 'server identifier'));
  if (o.hostname !== undefined) put(DhcpOption.hostname, textBytes(o.hostname, 'hostname (12)'));
  if (o.parameterRequestList !== undefined && o.parameterRequestList.length === 0) throw invalid('parameter request list is empty');
  if (o.parameterRequestList !== undefined) put(DhcpOption.parameterRequestList, Uint8Array.from(o.parameterRequestList.map((c) => checkInt(c, 0xff, 'parameter request list entry'))));
  if (o.subnetMask !== undefined) put(DhcpOption.subnetMask, addressBytes([o.subnetMask], 'subnet mask'));
  if (o.routers !== undefined) put(DhcpOption.routers, addressBytes(o.routers, 'routers'));
  if (o.dnsServers !== undefined) put(DhcpOption.dnsServers, addressBytes(o.dnsServers, 'DNS servers'));
  if (o.domainName !== undefined) put(DhcpOption.domainName, textBytes(o.domainName, 'domain name (15)'));
  if (o.leaseSeconds !== undefined) put(DhcpOption.leaseSeconds, u32Bytes(o.leaseSeconds, 'lease time'));
  if (o.renewalSeconds !== undefined) put(DhcpOption.renewalSeconds, u32Bytes(o.renewalSeconds, 'renewal time'));
  if (o.rebindingSeconds !== undefined) put(DhcpOption.rebindingSeconds, u32Bytes(o.rebindingSeconds, 'rebinding time'));
  if (o.message !== undefined) put(DhcpOption.message, textBytes(o.message, 'message (56)'));
  for (const x of o.other ?? []) {
    checkInt(x.code, 254, 'option code');
    if (x.code === PAD || (Object.values(DhcpOption) as number[]).includes(x.code)) throw invalid(`option ${x.code} belongs in its named field, not in other`);
    put(x.code, x.data);
  }
  parts.push(Buffer.from([END]));
  const out = Buffer.concat(parts);
  return out.length >= MIN_PACKET_BYTES ? out : Buffer.concat([out, Buffer.alloc(MIN_PACKET_BYTES - out.length)]);
}

function checkInt(n: number, max: number, field: string): number {
  if (!Number.isInteger(n) || n < 0 || n > max) throw invalid(`${field} ${n} is not an integer in 0-${max}`);
  return n;
}

function u32Bytes(n: number, field: string): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(checkInt(n, 0xffffffff, field));
  return b;
}

function addressBytes(list: string[], field: string): Uint8Array {
  if (list.length === 0) throw invalid(`${field} is an empty list`);
  const b = Buffer.alloc(4 * list.length);
  list.forEach((a, k) => writeIpv4(b, 4 * k, a, field));
  return b;
}

function writeField(buf: Buffer, at: number, size: number, text: string, field: string): void {
  if (!/^[\x01-\xff]*$/.test(text)) throw invalid(`${field} holds characters that are not latin1`);
  const b = Buffer.from(text, 'latin1');
  // A field filled to its end needs no terminating NUL (decode reads it so too).
  if (b.length > size || b.includes(0)) throw invalid(`${field} must be at most ${size} bytes without NUL`);
  b.copy(buf, at);
}
