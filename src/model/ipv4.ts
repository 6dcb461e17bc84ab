/**
 * IPv4 address and prefix math on 32-bit integers. Parsing is strict (four decimal parts, no leading
 * zeros) through ipaddr.js, so anything that passes can be placed into a command or a ruleset as is.
 */
import ipaddr from 'ipaddr.js';
import { SyError } from '../errors.js';

export interface Cidr {
  /** network address as an unsigned 32-bit integer */
  base: number;
  prefix: number;
}

export function isIPv4(s: string): boolean {
  return typeof s === 'string' && ipaddr.IPv4.isValidFourPartDecimal(s) && !/(^|\.)0\d/.test(s);
}

export function ipToInt(s: string): number {
  if (!isIPv4(s)) throw new SyError('SY_INVALID_ADDRESS', `"${s}" is not an IPv4 address`);
  return s.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n"; the address must be the network address (no host bits set). */
export function parseCidr(s: string, what = 'subnet'): Cidr {
  const m = typeof s === 'string' ? /^([0-9.]+)\/(\d{1,2})$/.exec(s) : null;
  if (!m || !isIPv4(m[1]!) || Number(m[2]) > 32) {
    throw new SyError('SY_INVALID_SUBNET', `${what} "${String(s)}" is not an IPv4 prefix such as 172.18.0.0/24`);
  }
  const prefix = Number(m[2]);
  const addr = ipToInt(m[1]!);
  const base = (addr & maskOf(prefix)) >>> 0;
  if (base !== addr) {
    throw new SyError('SY_INVALID_SUBNET', `${what} "${s}" has host bits set; did you mean "${intToIp(base)}/${prefix}"?`);
  }
  return { base, prefix };
}

export function cidrToString(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.base;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & maskOf(p)) >>> 0) === ((b.base & maskOf(p)) >>> 0);
}

/** Refuses `ip` unless it is a host address of `cidr` (not its network or broadcast address). */
export function checkHostAddress(ip: string, cidr: Cidr, what: string): void {
  if (!isIPv4(ip)) throw new SyError('SY_INVALID_ADDRESS', `${what} "${ip}" is not an IPv4 address`);
  const n = ipToInt(ip);
  if (!cidrContains(cidr, n)) throw new SyError('SY_INVALID_ADDRESS', `${what} ${ip} is outside the subnet ${cidrToString(cidr)}`);
  if (n === cidr.base || n === cidr.base + cidrSize(cidr) - 1) {
    throw new SyError('SY_INVALID_ADDRESS', `${what} ${ip} is the network or broadcast address of ${cidrToString(cidr)}`);
  }
}
