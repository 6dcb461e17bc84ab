/**
 * A network create request checked completely and turned into the record hostd stores: its Type,
 * subnet and gateway, DNS, MTU, MacPool and policies, and for the uplink modes (Transparent,
 * L2Bridge, L2Tunnel) the host adapter it is bound to. Nothing changes here: every refusal comes
 * before the record exists. What an adapter must be, so that taking it cannot cut the host off:
 * an Ethernet link of this host that is no bridge, no port of another bridge, not another network's,
 * and holding no address leased by DHCP (its client could not renew it once the address moves).
 */
import { SyError } from '../errors.js';
import type { DataPlane } from '../dataplane/dataplane.js';
import type { HostComputeNetwork } from '../hcn/schema.js';
import { checkHostAddress, cidrSize, cidrsOverlap, cidrToString, intToIp, ipToInt, maskOf, parseCidr, type Cidr } from '../model/ipv4.js';
import { parseDns } from '../model/dns.js';
import { parseNetworkAcls } from '../model/acl.js';
import { parseHostAccessPolicies } from '../model/host-access.js';
import { NET_ADAPTER_NAME, outboundInterface, parseMacPool, parseNetworkPolicies, UPSTREAM_SWITCH } from '../model/network-settings.js';
import { UPLINK_TYPES, type NetworkRecord, type NetworkType, type UplinkRecord } from '../model/records.js';
import type { HostState } from '../model/state.js';
import { NAME_PATTERN } from '../model/names.js';
import { overlayNetworkRecord } from './overlay-request.js';

const KNOWN_NETWORK_TYPES = ['NAT', 'ICS', 'Transparent', 'L2Bridge', 'L2Tunnel', 'Overlay', 'Private', 'Internal'];
export const SUPPORTED_NETWORK_TYPES: readonly NetworkType[] = ['NAT', ...UPLINK_TYPES, 'Overlay'];
const AUTO_SUBNET_POOL = parseCidr('172.16.0.0/12');

export interface NetworkRequestContext {
  state: HostState;
  dp: DataPlane;
  /** the record's id: the one given (checked) or a new one */
  newId(given: string | undefined): string;
}

export async function networkRecordOf(doc: HostComputeNetwork, ctx: NetworkRequestContext): Promise<NetworkRecord> {
  const name = checkName(doc.Name, 'Network name');
  if (ctx.state.index.networkByName.has(name)) throw new SyError('SY_DUPLICATE_NAME', `A network named "${name}" already exists`);
  const type = KNOWN_NETWORK_TYPES.find((t) => t.toLowerCase() === String(doc.Type).toLowerCase());
  if (!type) throw new SyError('SY_UNKNOWN_TYPE', `Unknown network Type "${doc.Type}"; expected one of ${KNOWN_NETWORK_TYPES.join(', ')}`);
  if (!(SUPPORTED_NETWORK_TYPES as readonly string[]).includes(type)) {
    throw new SyError('SY_NOT_SUPPORTED', `Network Type "${type}" is not supported yet; supported: ${SUPPORTED_NETWORK_TYPES.join(', ')}`);
  }
  const mode = type as NetworkType;
  if (mode === 'Overlay') return overlayNetworkRecord(doc, name, ctx);
  const uplinkMode = mode !== 'NAT';
  const acls = parseNetworkAcls(doc.Policies ?? [], 'Policies');
  const { stored: policies, adapter, upstream } = parseNetworkPolicies(doc.Policies ?? [], mode);
  const hostAccess = parseHostAccessPolicies(doc.Policies ?? []);
  const macPool = parseMacPool(doc.MacPool);
  if (doc.MTU !== undefined && (doc.MTU < 576 || doc.MTU > 65535)) throw new SyError('SY_BAD_REQUEST', `MTU ${doc.MTU} is out of range (576-65535)`);
  let uplink: UplinkRecord | undefined;
  let adapterPrefix: Cidr | undefined;
  if (uplinkMode) {
    if (doc.Internal) throw new SyError('SY_NOT_SUPPORTED', `A ${mode} network is the physical network: it cannot be internal`);
    if (hostAccess.length) throw new SyError('SY_NOT_SUPPORTED', `HostAccess is a NAT network's: a ${mode} network's endpoints meet the host as any machine on the wire does`);
    if (upstream) await checkUpstreamBridge(upstream, ctx);
    else if (!adapter) {
      throw new SyError('SY_BAD_REQUEST', `A ${mode} network is bound to a host adapter: give it as the policy {"Type": "${NET_ADAPTER_NAME}", "Settings": {"NetworkAdapterName": "eth1"}}`);
    } else ({ uplink, prefix: adapterPrefix } = await checkAdapter(adapter, mode, ctx));
  } else {
    if (adapter && doc.Internal) throw new SyError('SY_BAD_REQUEST', `An internal network leaves the host by no interface; it takes no ${NET_ADAPTER_NAME}`);
    if (adapter && !(await ctx.dp.hostLinkNames()).includes(adapter)) throw new SyError('SY_BAD_REQUEST', `${NET_ADAPTER_NAME} "${adapter}" is not an interface of this host`);
    const bound = adapter ? [...ctx.state.networks.values()].find((n) => n.uplink?.name === adapter) : undefined;
    if (bound) throw new SyError('SY_IN_USE', `${NET_ADAPTER_NAME} "${adapter}" is the adapter of ${bound.type} network "${bound.name}": a NAT network's traffic leaves by that network's bridge now`);
  }
  const ipams = doc.Ipams ?? [];
  const dhcp = checkIpamTypes(ipams.map((i) => i.Type ?? 'Static'), mode);
  const subnets = ipams.flatMap((i) => i.Subnets ?? []);
  if (subnets.length > 1) throw new SyError('SY_NOT_SUPPORTED', `A ${mode} network takes one IPv4 subnet`);
  const sub = subnets[0];
  for (const p of sub?.Policies ?? []) {
    if (['vlan', 'vsid'].includes(p.Type.toLowerCase()) && uplinkMode) {
      throw new SyError('SY_NOT_SUPPORTED', `Subnet policy "${p.Type}": this kernel has no 802.1Q VLAN devices and no bridge VLAN filtering, so a VLAN tag cannot be honoured; Switchyard will not pretend`);
    }
    throw new SyError('SY_NOT_SUPPORTED', `Subnet policy "${p.Type}" is not supported on ${mode} networks`);
  }
  const taken = await takenPrefixes(ctx.state, ctx.dp, uplink?.name);
  let cidr: Cidr;
  if (sub?.IpAddressPrefix) {
    cidr = parseCidr(sub.IpAddressPrefix);
    if (cidr.prefix > 30 || cidr.prefix < 8) throw new SyError('SY_INVALID_SUBNET', `Subnet "${sub.IpAddressPrefix}" must be between /8 and /30`);
  } else if (adapterPrefix) {
    cidr = adapterPrefix;
  } else if (dhcp) {
    throw new SyError('SY_BAD_REQUEST', `Adapter "${uplink?.name}" has no IPv4 address to learn the physical network's prefix from: give it in Ipams[0].Subnets[0].IpAddressPrefix (endpoints still lease their addresses by DHCP)`);
  } else if (uplinkMode) {
    throw new SyError('SY_BAD_REQUEST', `${uplink ? `Adapter "${uplink.name}" has no IPv4 address to take the subnet from` : 'The tunnelled endpoints\' subnet is not known'}: give Ipams[0].Subnets[0].IpAddressPrefix`);
  } else {
    cidr = pickFreeSubnet(taken.map((t) => t.cidr));
  }
  const clash = taken.find((t) => cidrsOverlap(t.cidr, cidr));
  if (clash) throw new SyError('SY_SUBNET_OVERLAP', `Subnet ${cidrToString(cidr)} overlaps ${clash.what}`);
  let gateway = intToIp(cidr.base + 1);
  for (const r of sub?.Routes ?? []) {
    if ((r.DestinationPrefix ?? '0.0.0.0/0') !== '0.0.0.0/0') {
      throw new SyError('SY_NOT_SUPPORTED', `Subnet route to "${r.DestinationPrefix}" is not supported; only the default route names the gateway`);
    }
    if (r.NextHop) gateway = r.NextHop;
  }
  checkHostAddress(gateway, cidr, 'Gateway');
  return {
    id: ctx.newId(doc.ID ?? doc.Id),
    name,
    type: mode,
    ...(uplink ? { uplink } : {}),
    ...(upstream ? { upstream: { bridge: upstream } } : {}),
    subnet: cidrToString(cidr),
    gateway,
    dns: parseDns(doc.Dns, 'network Dns') ?? { search: [], servers: [], options: [] },
    ...(doc.MTU ? { mtu: doc.MTU } : {}),
    ...(doc.Internal ? { internal: true } : {}),
    ...(macPool ? { macPool } : {}),
    flags: doc.Flags ?? 0,
    policies,
    ...(acls.length ? { acls } : {}),
    ...(hostAccess.length ? { hostAccess } : {}),
    ...(dhcp ? { dhcp: true as const } : {}),
    createdAt: new Date().toISOString(),
  };
}

/**
 * The Ipam Types of a request: Static everywhere; DHCP (endpoints lease their addresses from a server
 * on the physical network) on Transparent only, where each endpoint's own MAC is on the wire, and
 * alone (no Static beside it). True for DHCP.
 */
export function checkIpamTypes(types: string[], mode: NetworkType): boolean {
  const lower = types.map((t) => t.toLowerCase());
  const other = types.find((t) => !['static', 'dhcp'].includes(t.toLowerCase()));
  if (other !== undefined) throw new SyError('SY_NOT_SUPPORTED', `Ipam Type ${JSON.stringify(other)} is not supported; use Static${mode === 'Transparent' ? ' or DHCP' : ''}`);
  if (!lower.includes('dhcp')) return false;
  if (mode !== 'Transparent') {
    throw new SyError('SY_NOT_SUPPORTED', `Ipam Type "DHCP" is for Transparent networks (each endpoint's own MAC on the wire); a ${mode} network's endpoints ${mode === 'NAT' ? 'take addresses from its subnet' : 'share the adapter\'s MAC'}: use Static`);
  }
  if (lower.includes('static')) throw new SyError('SY_NOT_SUPPORTED', 'A network leases all its endpoints\' addresses by DHCP or none: give one Ipam, "DHCP" or "Static"');
  return true;
}

/** The adapter an uplink network is bound to, checked; with the prefix of its first IPv4 address. */
async function checkAdapter(name: string, mode: NetworkType, ctx: NetworkRequestContext): Promise<{ uplink: UplinkRecord; prefix?: Cidr }> {
  const bound = [...ctx.state.networks.values()].find((n) => n.uplink?.name === name);
  if (bound) throw new SyError('SY_IN_USE', `Adapter "${name}" is already the uplink of network "${bound.name}" (${bound.type}); a host adapter serves one network`);
  const nat = [...ctx.state.networks.values()].find((n) => outboundInterface(n) === name);
  if (nat) throw new SyError('SY_IN_USE', `Adapter "${name}" is the only way out of NAT network "${nat.name}" (its ${NET_ADAPTER_NAME}); a ${mode} network would take it`);
  const a = await ctx.dp.adapter(name);
  if (!a) throw new SyError('SY_BAD_REQUEST', `${NET_ADAPTER_NAME} "${name}" is not an interface of this host`);
  if (a.linkType !== 'ether') throw new SyError('SY_BAD_REQUEST', `Adapter "${name}" is not an Ethernet adapter (link type ${a.linkType || 'unknown'})`);
  if (a.kind === 'bridge') throw new SyError('SY_BAD_REQUEST', `Adapter "${name}" is a bridge; name the adapter that carries its traffic instead`);
  if (a.master) throw new SyError('SY_IN_USE', `Adapter "${name}" is already a port of "${a.master}"`);
  const leased = a.addresses.find((x) => x.dynamic);
  if (leased) {
    throw new SyError('SY_IN_USE', `Adapter "${name}" holds ${leased.address} leased by DHCP: taking the adapter would stop its renewals and cut the host off; give it a static address first`);
  }
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(a.mac)) throw new SyError('SY_BAD_REQUEST', `Adapter "${name}" has no Ethernet address`);
  const v4 = a.addresses.find((x) => x.family === 'inet');
  let prefix: Cidr | undefined;
  if (v4) {
    const [ip, len] = v4.address.split('/');
    const p = Number(len);
    prefix = { base: (ipToInt(ip!) & maskOf(p)) >>> 0, prefix: p };
  }
  return { uplink: { name, mac: a.mac }, ...(prefix ? { prefix } : {}) };
}

/** The upstream switch's bridge: there, a bridge, not Switchyard's, not another upstream network's. */
async function checkUpstreamBridge(name: string, ctx: NetworkRequestContext): Promise<void> {
  const other = [...ctx.state.networks.values()].find((n) => n.upstream?.bridge === name);
  if (other) throw new SyError('SY_IN_USE', `Bridge "${name}" is already the upstream of network "${other.name}"`);
  const a = await ctx.dp.adapter(name);
  if (!a) throw new SyError('SY_BAD_REQUEST', `${UPSTREAM_SWITCH} bridge "${name}" is not an interface of this host`);
  if (a.kind !== 'bridge') throw new SyError('SY_BAD_REQUEST', `${UPSTREAM_SWITCH} "${name}" is not a bridge (its ports face the tunnel hosts, with hairpin on)`);
}

/**
 * Prefixes a new subnet must not overlap: other networks and the host's own routes (also for the
 * Docker IPAM). The routes on `adapter` are left out: an uplink network is the adapter's own segment.
 */
export async function takenPrefixes(state: HostState, dp: DataPlane, adapter?: string): Promise<{ cidr: Cidr; what: string }[]> {
  const out = [...state.networks.values()].map((n) => ({ cidr: parseCidr(n.subnet), what: `network "${n.name}" (${n.subnet})` }));
  for (const r of await dp.foreignRoutes()) {
    if (adapter && r.dev === adapter) continue;
    try {
      const [a, p] = r.dst.split('/');
      const prefix = Number(p);
      const base = (ipToInt(a!) & maskOf(prefix)) >>> 0;
      out.push({ cidr: { base, prefix }, what: `the host route ${r.dst} on ${r.dev}` });
    } catch {
      // not an IPv4 route we can reason about
    }
  }
  return out;
}

export function pickFreeSubnet(taken: Cidr[]): Cidr {
  for (let i = 0; i < cidrSize(AUTO_SUBNET_POOL) / 256; i++) {
    const cand = { base: AUTO_SUBNET_POOL.base + i * 256, prefix: 24 };
    if (!taken.some((t) => cidrsOverlap(t, cand))) return cand;
  }
  throw new SyError('SY_SUBNET_FULL', 'No free /24 left in 172.16.0.0/12; give IpAddressPrefix');
}

export function checkName(name: string, what: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new SyError('SY_INVALID_NAME', `${what} ${JSON.stringify(name)} is not valid: use 1-128 letters, digits, "_", "." or "-", starting with a letter or digit`);
  }
  return name;
}
