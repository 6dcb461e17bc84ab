/**
 * Address allocation as pure functions: which addresses of a subnet a NIC may have, which one comes
 * next, MAC addresses in [MS-NCNBI]'s spelling. The store side (claims taken by txn) is in
 * check-context.ts; what is here decides and needs no store.
 */
import { SyError } from '../errors.js';
import { cidrContains, intToIp, ipToInt, parseCidr, type Cidr } from '../model/ipv4.js';
import { intToMac, macToInt } from '../model/network-settings.js';

/**
 * Why an address of the subnet cannot be given to a NIC: the network address, the broadcast
 * address, or the gateway (the first host address, as the hosts of the next issue will use it).
 * A /31 or /32 has no such roles and no room for NICs either (see hostRange).
 */
export function reservedRole(subnet: Cidr, ip: number): 'network' | 'broadcast' | 'gateway' | undefined {
  if (subnet.prefix >= 31) return undefined;
  const last = subnet.base + 2 ** (32 - subnet.prefix) - 1;
  if (ip === subnet.base) return 'network';
  if (ip === last) return 'broadcast';
  if (ip === subnet.base + 1) return 'gateway';
  return undefined;
}

/** The addresses Dynamic allocation hands out: after the gateway, before broadcast (one in a /30, none in a /31). */
export function hostRange(subnet: Cidr): { first: number; last: number } | undefined {
  if (subnet.prefix >= 31) return undefined;
  const first = subnet.base + 2;
  const last = subnet.base + 2 ** (32 - subnet.prefix) - 2;
  return first <= last ? { first, last } : undefined;
}

/** The lowest number in [first, last] not in `taken`; at most taken.size + 1 steps. */
export function firstFree(first: number, last: number, taken: ReadonlySet<number>): number | undefined {
  for (let n = first; n <= last; n++) if (!taken.has(n)) return n;
  return undefined;
}

/** The lowest free number over several ranges, in the order given. */
export function firstFreeInRanges(ranges: readonly { first: number; last: number }[], taken: ReadonlySet<number>): number | undefined {
  for (const r of ranges) {
    const n = firstFree(r.first, r.last, taken);
    if (n !== undefined) return n;
  }
  return undefined;
}

/**
 * Checks a Static private IP for `subnet` (text forms both) and returns it as a number; `field`
 * names what the client wrote.
 */
export function staticAddress(ipText: string, subnetText: string, field: string): number {
  const ip = parseIp(ipText, field);
  const subnet = parseCidr(subnetText);
  if (!cidrContains(subnet, ip)) throw new SyError('SY_INVALID_ADDRESS', `${field}: ${ipText} is outside the subnet's addressPrefix ${subnetText}`);
  const role = reservedRole(subnet, ip);
  if (role) throw new SyError('SY_INVALID_ADDRESS', `${field}: ${ipText} is the subnet's ${role} address (${subnetText}), which no NIC may have`);
  return ip;
}

export function parseIp(text: string, field: string): number {
  try {
    return ipToInt(text);
  } catch {
    throw new SyError('SY_INVALID_ADDRESS', `${field}: "${text}" is not an IPv4 address`);
  }
}

export function parsePrefix(text: string, field: string): Cidr {
  try {
    return parseCidr(text);
  } catch (e) {
    throw new SyError('SY_INVALID_SUBNET', `${field}: ${(e as Error).message}`);
  }
}

export { intToIp };

/** "00-1D-D8-B7-1C-00" or "00:1d:d8:b7:1c:00" → 48-bit number. */
export function parseMac(text: string, field: string): number {
  return macToInt(text, field);
}

/** A MAC as [MS-NCNBI] writes it: "00-1D-D8-B7-1C-00". */
export function formatMac(n: number): string {
  return intToMac(n).toUpperCase().replace(/:/g, '-');
}

/** A macPool's range, checked: start before end, unicast, one first octet (so every address is unicast). */
export function macRange(start: string, end: string, field: string): { first: number; last: number } {
  const first = parseMac(start, `${field}/startMacAddress`);
  const last = parseMac(end, `${field}/endMacAddress`);
  if (first > last) throw new SyError('SY_BAD_REQUEST', `${field}: startMacAddress ${start} comes after endMacAddress ${end}`);
  const octet = (n: number) => Math.floor(n / 2 ** 40);
  if (octet(first) & 1) throw new SyError('SY_BAD_REQUEST', `${field}: ${start} is a multicast address`);
  if (octet(first) !== octet(last)) throw new SyError('SY_BAD_REQUEST', `${field}: a range must keep its first octet (so that all of it is unicast)`);
  return { first, last };
}
