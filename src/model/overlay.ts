/**
 * Overlay virtual networks (HCN Type "Overlay"): tenant addresses (CAs) carried between hosts over
 * VXLAN on the provider network (PAs). What a network record keeps of it, and the pure checks of its
 * HCN policies: the subnets' VSID (the VNI), the host's ProviderAddress, VxlanPort and the distributed
 * router's MAC (DrMacAddress), which is the gateway MAC of every subnet on every host.
 */
import { SyError } from '../errors.js';
import { cidrContains, cidrsOverlap, ipToInt, isIPv4, parseCidr } from './ipv4.js';
import { isPolicyType } from './network-settings.js';
import type { NetworkRecord } from './records.js';
import { vxlanName } from './names.js';

export interface OverlaySubnet {
  /** canonical IPv4 prefix */
  prefix: string;
  /** its VSID: the VNI its frames carry between hosts */
  vni: number;
  /** the distributed gateway: the same address (and DrMac) on every host */
  gateway: string;
}

export interface OverlayRecord {
  /** the first subnet's VSID: it names the network's routing table and mark */
  vni: number;
  /** this host's provider address: the outer source of what it sends */
  providerAddress: string;
  /** the VXLAN UDP port (VxlanPort policy) */
  port: number;
  /** the distributed router's MAC, lower-case with colons */
  drMac: string;
  /** every subnet of the virtual network; the first is also the record's subnet and gateway */
  subnets: OverlaySubnet[];
}

export const VSID_MIN = 4096;
export const VSID_MAX = 16_777_214;
export const VXLAN_PORT = 4789;
/** the VXLAN overhead over IPv4 (outer Ethernet, IP, UDP, VXLAN): EncapOverhead's default */
export const VXLAN_OVERHEAD = 50;
/** the DR MAC when the network names none: the same on every host, so the gateway moves with nobody */
export const DEFAULT_DR_MAC = '02:53:44:52:4d:43';
/** HCN network policies an Overlay network takes besides those every network takes */
export const OVERLAY_NETWORK_POLICIES = ['ProviderAddress', 'VxlanPort', 'DrMacAddress'];

/** The settings of an overlay network's policies (ProviderAddress, VxlanPort, DrMacAddress), checked. */
export function parseOverlayPolicies(policies: { Type: string; Settings?: unknown }[]): { providerAddress: string; port: number; drMac: string } {
  let pa: string | undefined;
  let port: number | undefined;
  let drMac: string | undefined;
  for (const [i, p] of policies.entries()) {
    const s = (p.Settings ?? {}) as Record<string, unknown>;
    const where = `Policies[${i}]`;
    if (isPolicyType(p, 'ProviderAddress')) {
      if (pa !== undefined) throw new SyError('SY_BAD_REQUEST', `${where}: a network has one ProviderAddress`);
      if (typeof s.ProviderAddress !== 'string' || !isIPv4(s.ProviderAddress)) {
        throw new SyError('SY_INVALID_POLICY', `${where}: ProviderAddress ${JSON.stringify(s.ProviderAddress)} is not an IPv4 address`);
      }
      pa = s.ProviderAddress;
    } else if (isPolicyType(p, 'VxlanPort')) {
      if (port !== undefined) throw new SyError('SY_BAD_REQUEST', `${where}: a network has one VxlanPort`);
      const v = s.Port;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw new SyError('SY_INVALID_POLICY', `${where}: VxlanPort Port ${JSON.stringify(v)} must be 1-65535`);
      port = v;
    } else if (isPolicyType(p, 'DrMacAddress')) {
      if (drMac !== undefined) throw new SyError('SY_BAD_REQUEST', `${where}: a network has one DrMacAddress`);
      drMac = parseUnicastMac(s.Address ?? s.DrMacAddress, `${where}: DrMacAddress`);
    }
  }
  if (!pa) throw new SyError('SY_BAD_REQUEST', 'An Overlay network needs this host\'s provider address: {"Type": "ProviderAddress", "Settings": {"ProviderAddress": "10.0.0.11"}}');
  return { providerAddress: pa, port: port ?? VXLAN_PORT, drMac: drMac ?? DEFAULT_DR_MAC };
}

/** A VSID subnet policy's IsolationId, checked (VNI range of HNS: 4096-16777214). */
export function parseVsid(settings: unknown, where: string): number {
  const v = (settings as { IsolationId?: unknown } | undefined)?.IsolationId;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < VSID_MIN || v > VSID_MAX) {
    throw new SyError('SY_INVALID_POLICY', `${where}: VSID IsolationId ${JSON.stringify(v)} must be ${VSID_MIN}-${VSID_MAX}`);
  }
  return v;
}

/** The subnets' prefixes must not overlap one another (they are routed on one bridge). */
export function checkSubnetsApart(subnets: OverlaySubnet[]): void {
  for (let i = 0; i < subnets.length; i++) {
    for (let j = i + 1; j < subnets.length; j++) {
      if (cidrsOverlap(parseCidr(subnets[i]!.prefix), parseCidr(subnets[j]!.prefix))) {
        throw new SyError('SY_SUBNET_OVERLAP', `Subnet ${subnets[j]!.prefix} overlaps subnet ${subnets[i]!.prefix} of the same network`);
      }
    }
  }
}

/** At most this many VSIDs in one network: each is a VXLAN device named by one more character. */
export const MAX_VSIDS = 36;

/**
 * The VXLAN devices of an overlay network, one per VSID of its subnets in their order: the first is
 * sy-vx-<id>, the next ones add one character (1-9, a-z), within the 15 a link name may have.
 */
export function overlayVxlans(net: NetworkRecord): { vni: number; name: string }[] {
  const vnis = [...new Set((net.overlay?.subnets ?? []).map((s) => s.vni))];
  return vnis.map((vni, i) => ({ vni, name: vxlanName(net.id) + (i ? i.toString(36) : '') }));
}

/** The VXLAN device that carries the subnet holding `ip`. */
export function vxlanOf(net: NetworkRecord, ip: string): string | undefined {
  const vni = subnetOf(net, ip)?.vni;
  return overlayVxlans(net).find((v) => v.vni === vni)?.name;
}

/** The subnet (with its gateway) of `net` that holds `ip`; a network with one subnet gives its own. */
export function subnetOf(net: NetworkRecord, ip: string): (OverlaySubnet | Omit<OverlaySubnet, 'vni'>) & { vni?: number } | undefined {
  const all: ({ prefix: string; gateway: string; vni?: number })[] = net.overlay?.subnets ?? [{ prefix: net.subnet, gateway: net.gateway }];
  const n = isIPv4(ip) ? ipToInt(ip) : NaN;
  return all.find((s) => cidrContains(parseCidr(s.prefix), n));
}

/** "00-15-5D-52-C0-00" or "00:15:5d:52:c0:00" → "00:15:5d:52:c0:00", refusing multicast MACs. */
export function parseUnicastMac(v: unknown, what: string): string {
  if (typeof v !== 'string' || !/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(v)) throw new SyError('SY_BAD_REQUEST', `${what} ${JSON.stringify(v)} is not a MAC address`);
  const mac = v.replace(/-/g, ':').toLowerCase();
  if (parseInt(mac.slice(0, 2), 16) & 1) throw new SyError('SY_BAD_REQUEST', `${what} "${v}" is a multicast address`);
  if (mac === '00:00:00:00:00:00') throw new SyError('SY_BAD_REQUEST', `${what} is all zeros`);
  return mac;
}
