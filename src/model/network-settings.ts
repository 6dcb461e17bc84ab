/**
 * The network-level HCN settings hostd acts on besides subnet, DNS and MTU, parsed and checked once
 * (pure): the NetAdapterName policy, which on a NAT network names the one host interface its traffic
 * may leave by (Windows binds a network's switch to that adapter), and MacPool, the ranges its
 * endpoints take their MACs from. Other network policies are refused: none is silently ignored.
 */
import { SyError } from '../errors.js';
import { LINK_PREFIX } from './names.js';
import type { NetworkRecord } from './records.js';
import { OVERLAY_NETWORK_POLICIES } from './overlay.js';

/** A MAC range of a pool, both ends included, as lower-case colon-separated MACs. */
export interface MacRange {
  start: string;
  end: string;
}

export const NET_ADAPTER_NAME = 'NetAdapterName';
/** Switchyard's: an L2Tunnel network in the upstream role, on the upstream switch's bridge. */
export const UPSTREAM_SWITCH = 'UpstreamSwitch';

/**
 * Network policies read by parsers of their own and kept as records of their own (model/acl.ts,
 * model/host-access.ts), not stored as given: also the ones a network's PATCH changes.
 */
export const LIVE_NETWORK_POLICIES = ['NetworkACL', 'HostAccess'];

/** Whether a policy document is of Type `type` (HCN Types are matched without regard to case). */
export function isPolicyType(p: { Type: string }, type: string): boolean {
  return p.Type.toLowerCase() === type.toLowerCase();
}

/** Interface names that are safe in an nft rule and a command, and not Switchyard's own links. */
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

/**
 * Checks a network's Policies. Returns them as stored (NetAdapterName normalised) and the named
 * interface, if any.
 */
export function parseNetworkPolicies(
  policies: { Type: string; Settings?: unknown }[],
  mode: string = 'NAT',
): { stored: NetworkRecord['policies']; adapter?: string; upstream?: string } {
  let adapter: string | undefined;
  let upstream: string | undefined;
  const ifName = (i: string, what: string, name: unknown): string => {
    if (typeof name !== 'string' || !IFNAME.test(name)) {
      throw new SyError('SY_INVALID_POLICY', `Policies[${i}]: ${what} ${JSON.stringify(name)} is not an interface name (1-15 letters, digits, "_", "." or "-")`);
    }
    if (name.startsWith(LINK_PREFIX)) throw new SyError('SY_INVALID_POLICY', `Policies[${i}]: "${name}" is one of Switchyard's own links`);
    return name;
  };
  for (const [i, p] of policies.entries()) {
    if (LIVE_NETWORK_POLICIES.some((t) => isPolicyType(p, t))) continue;
    if (isPolicyType(p, UPSTREAM_SWITCH) && mode === 'L2Tunnel') {
      if (upstream !== undefined) throw new SyError('SY_BAD_REQUEST', `Policies[${i}]: a network has one ${UPSTREAM_SWITCH}`);
      upstream = ifName(String(i), 'Bridge', (p.Settings as { Bridge?: unknown } | undefined)?.Bridge);
      continue;
    }
    if (!isPolicyType(p, NET_ADAPTER_NAME)) {
      const known = mode === 'Overlay'
        ? ['NetworkACL', ...OVERLAY_NETWORK_POLICIES]
        : [NET_ADAPTER_NAME, 'NetworkACL', ...(mode === 'NAT' ? ['HostAccess'] : []), ...(mode === 'L2Tunnel' ? [UPSTREAM_SWITCH] : [])];
      throw new SyError('SY_NOT_SUPPORTED', `Network policy "${p.Type}" is not supported on ${mode} networks; supported: ${known.join(', ')}`);
    }
    if (adapter !== undefined) throw new SyError('SY_BAD_REQUEST', `Policies[${i}]: a network has one ${NET_ADAPTER_NAME}`);
    adapter = ifName(String(i), 'NetworkAdapterName', (p.Settings as { NetworkAdapterName?: unknown } | undefined)?.NetworkAdapterName);
  }
  if (adapter && upstream) throw new SyError('SY_BAD_REQUEST', `A network is either bound to an adapter (${NET_ADAPTER_NAME}) or the upstream of tunnelled endpoints (${UPSTREAM_SWITCH}), not both`);
  const stored: NetworkRecord['policies'] = [
    ...(adapter ? [{ Type: NET_ADAPTER_NAME, Settings: { NetworkAdapterName: adapter } }] : []),
    ...(upstream ? [{ Type: UPSTREAM_SWITCH, Settings: { Bridge: upstream } }] : []),
  ];
  return { stored, ...(adapter ? { adapter } : {}), ...(upstream ? { upstream } : {}) };
}

/** The one interface a NAT network's traffic may leave the host by (its NetAdapterName), if limited. */
export function outboundInterface(net: NetworkRecord): string | undefined {
  const p = net.policies.find((x) => x.Type === NET_ADAPTER_NAME);
  return (p?.Settings as { NetworkAdapterName?: string } | undefined)?.NetworkAdapterName;
}

/** "00-15-5D-52-C0-00" or "00:15:5d:52:c0:00" → 48-bit number. */
export function macToInt(s: string, where: string): number {
  if (!/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(s)) throw new SyError('SY_BAD_REQUEST', `${where}: "${s}" is not a MAC address`);
  return parseInt(s.replace(/[:-]/g, ''), 16);
}

export function intToMac(n: number): string {
  return n.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}

/** HCN MacPool → ranges: each a unicast range that does not cross a first octet, not overlapping another. */
export function parseMacPool(pool: { Ranges?: { StartMacAddress?: string; EndMacAddress?: string }[] } | undefined): MacRange[] | undefined {
  const ranges = pool?.Ranges ?? [];
  if (!ranges.length) return undefined;
  if (ranges.length > 16) throw new SyError('SY_BAD_REQUEST', 'MacPool: at most 16 ranges');
  const out: { a: number; b: number }[] = [];
  for (const [i, r] of ranges.entries()) {
    const where = `MacPool.Ranges[${i}]`;
    if (!r.StartMacAddress || !r.EndMacAddress) throw new SyError('SY_BAD_REQUEST', `${where}: give StartMacAddress and EndMacAddress`);
    const a = macToInt(r.StartMacAddress, where);
    const b = macToInt(r.EndMacAddress, where);
    if (a > b) throw new SyError('SY_BAD_REQUEST', `${where}: ${r.StartMacAddress} comes after ${r.EndMacAddress}`);
    // The first octet holds the multicast bit: a range within one first octet is all unicast or all not.
    if (Math.floor(a / 2 ** 40) !== Math.floor(b / 2 ** 40)) throw new SyError('SY_BAD_REQUEST', `${where}: a range must keep its first octet`);
    if (Math.floor(a / 2 ** 40) & 1) throw new SyError('SY_BAD_REQUEST', `${where}: ${r.StartMacAddress} is a multicast address`);
    const clash = out.findIndex((o) => a <= o.b && o.a <= b);
    if (clash >= 0) throw new SyError('SY_BAD_REQUEST', `${where} overlaps MacPool.Ranges[${clash}]`);
    out.push({ a, b });
  }
  return out.map(({ a, b }) => ({ start: intToMac(a), end: intToMac(b) }));
}

/** The first MAC of the pool that `used` does not hold, or undefined when the pool is exhausted. */
export function freeMacInPool(ranges: MacRange[], used: Set<string>): string | undefined {
  for (const r of ranges) {
    const end = macToInt(r.end, 'MacPool');
    // at most used.size + 1 steps: the pool is walked only past the MACs already taken
    for (let n = macToInt(r.start, 'MacPool'); n <= end; n++) {
      const mac = intToMac(n);
      if (!used.has(mac)) return mac;
    }
  }
  return undefined;
}
