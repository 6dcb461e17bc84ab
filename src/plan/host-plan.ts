/**
 * The planner: from hostd's records to the kernel state they call for. Pure: no I/O, no clock, so it
 * is tested without root and its output is kept in golden files. The data-plane layer applies a plan.
 *
 * What every mode shares is planned here: a bridge per network (its mode decides what is on it,
 * plan/modes/), a veth per attached endpoint, its peer named eth0 (or InterfaceName) inside the
 * endpoint's namespace with the endpoint's address and a default route, and two nftables tables:
 *  - `inet switchyard`: port mappings are elements of two DNAT maps (keyed by protocol + host port,
 *    with or without a host address), reached for local destinations from prerouting (other
 *    machines, other endpoints: hairpin) and from output (the host itself, also 127.0.0.1, which
 *    needs route_localnet on the bridge and masquerade to the gateway); ACLs as verdict maps
 *    (plan/acl-maps.ts); OutBoundNAT; host access (model/host-access.ts): new flows from NAT
 *    endpoints to the host itself are dropped but for ICMP echo to the gateway, ICMP errors, DNS to a
 *    gateway that is the network's DNS server and the ports of HostAccess policies; loopback
 *    addresses never come in from a network bridge. Each mode adds its own chains and elements.
 *  - `bridge switchyard`: anti-spoofing of what endpoints send, and the uplink modes' MAC rewriting.
 */
import type { EndpointRecord, NamespaceRecord, NetworkRecord } from '../model/records.js';
import type { HostState } from '../model/state.js';
import { ANY_BRIDGE, LINK_PREFIX, networkBridge, NFT_TABLE, vethName } from '../model/names.js';
import type { NftChain, NftElement, NftSet, NftTable } from './nft-table.js';
import { effectiveAcls, type AclRule } from '../model/acl.js';
import { aclElements, defaultElement } from './acl-maps.js';
import { SyError } from '../errors.js';
import { modePlanner } from './modes/mode.js';
import type { OverlayBridgePlan } from './modes/overlay.js';
import { remoteEntries, type RemoteEntry } from './remote-entries.js';
import { subnetOf, VXLAN_OVERHEAD } from '../model/overlay.js';

export interface BridgePlan {
  name: string;
  networkId: string;
  mac: string;
  /** NAT: the gateway address with prefix, e.g. 172.18.0.1/24 */
  address?: string;
  /** uplink modes: the host adapter that becomes its port, with the host's addresses and routes moved onto the bridge */
  uplink?: string;
  /** an upstream's bridge: not hostd's, only checked to be there (never made, changed or removed) */
  foreign?: true;
  mtu?: number;
  /** overlay networks: the VXLAN device, the gateways and the network's routing table */
  overlay?: OverlayBridgePlan;
}

/** How a veth is a port of its bridge: NAT's hairpin (port mappings to oneself), a plain port, or isolated (L2Tunnel). */
export type PortMode = 'hairpin' | 'plain' | 'isolated';

export interface VethPlan {
  /** host side, enslaved to the bridge */
  name: string;
  endpointId: string;
  bridge: string;
  port: PortMode;
  netnsPath: string;
  /** interface name inside the namespace */
  ifName: string;
  mac: string;
  /** endpoint address with prefix */
  address: string;
  /** the default route's next hop (none on an internal network) */
  gateway?: string;
  /** the gateway's MAC, written as a permanent neighbour inside (an overlay's DR MAC), when known */
  gatewayMac?: string;
  /** what can change while the veth lives (a policy change applies it in place) */
  settings: VethSettings;
}

export interface VethSettings {
  /** both ends' MTU (the network's less any EncapOverhead); absent = the kernel's default */
  mtu?: number;
  /** extra routes inside the namespace (SDNRoute policies, the endpoint's Routes) */
  routes: { dst: string; via?: string; metric?: number }[];
  /** QOS caps in bytes per second: what the endpoint sends (shaped on its own interface) and what
   * it receives (shaped on the host side of the veth) */
  egressBytes?: number;
  ingressBytes?: number;
  /** bucket sizes in bytes, when the caller chose them */
  egressBurst?: number;
  ingressBurst?: number;
}

export interface NamespacePlan {
  id: string;
  path: string;
  /** hostd creates it when missing (only for namespaces it owns) */
  create: boolean;
  /** /etc/netns/NAME/resolv.conf of a named namespace: its content from the DNS settings, or null
   * when none applies (a resolv.conf Switchyard wrote is then removed) */
  resolvConf?: { path: string; content: string | null };
}

export interface Sysctl {
  /** path under /proc/sys, e.g. net/ipv4/ip_forward */
  key: string;
  value: string;
}

export interface HostPlan {
  bridges: BridgePlan[];
  veths: VethPlan[];
  namespaces: NamespacePlan[];
  sysctls: Sysctl[];
  nft: NftTable;
  /** bridge family: what an endpoint's veth may send (anti-spoofing), before any IP hook */
  nftBridge: NftTable;
  /** netdev family: what leaves an uplink network's adapter (L2Bridge and L2Tunnel MAC rewriting) */
  nftNetdev: NftTable;
  /** accept Switchyard's bridges in iptables' FORWARD (needed where Docker set its policy to DROP) */
  iptablesForwardAccept: boolean;
  /** overlay remote endpoints: their FDB and neighbour entries */
  remotes: RemoteEntry[];
}

const PROTO_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/** What one network brings to the plan: its bridge, its bridge's sysctls, its chains and elements. */
export interface NetworkParts {
  bridge: BridgePlan;
  sysctls: Sysctl[];
  chains: NftChain[];
  /** set name → this network's elements */
  elements: Map<string, NftElement[]>;
  /** its chains in the bridge table and in the netdev table (the uplink modes' MAC rewriting) */
  bridgeChains?: NftChain[];
  netdevChains?: NftChain[];
}

/** What one endpoint brings: its veth (when attached) and its map elements (ACLs among them). */
export interface EndpointParts {
  veth?: VethPlan;
  elements: Map<string, NftElement[]>;
  /** elements of the bridge table's sets: the sources and MAC its veth may send from */
  bridgeElements: Map<string, NftElement[]>;
  /** an overlay remote endpoint: the FDB and neighbour entries that send its traffic to its host */
  remote?: RemoteEntry[];
}

/**
 * The whole plan, composed from each object's parts: the reconciler's incremental path plans only the
 * objects that changed (planNetworkParts, planEndpointParts, planNamespace), so a change costs the
 * same on a host with ten endpoints and on one with ten thousand. Sorted by id, so it is stable.
 */
export function planHost(state: HostState): HostPlan {
  const networks = sortById([...state.networks.values()]);
  const endpoints = sortById([...state.endpoints.values()]);
  const netParts = networks.map(planNetworkParts);
  const epParts = endpoints.map((ep) => planEndpointParts(ep, state.networks.get(ep.networkId), namespaceOf(ep, state), routedVia(ep, state)));
  const live = [...state.namespaces.values()].filter((ns) => !ns.deleting);
  const byNamespace = new Map<string, EndpointRecord[]>();
  for (const ep of endpoints) {
    if (!ep.namespaceId) continue;
    const list = byNamespace.get(ep.namespaceId);
    if (list) list.push(ep);
    else byNamespace.set(ep.namespaceId, [ep]);
  }
  return {
    bridges: netParts.map((n) => n.bridge),
    veths: epParts.flatMap((e) => (e.veth ? [e.veth] : [])),
    namespaces: sortById(live).map((ns) => planNamespace(ns, byNamespace.get(ns.id) ?? [], state)),
    sysctls: [...hostSysctls(networks.length > 0, state.index.bridgeHooks()), ...netParts.flatMap((n) => n.sysctls)],
    nft: assembleTable(netParts, epParts),
    nftBridge: assembleBridgeTable(netParts, epParts),
    nftNetdev: assembleNetdevTable(netParts),
    iptablesForwardAccept: networks.length > 0,
    remotes: epParts.flatMap((e) => e.remote ?? []),
  };
}

/** The namespace an endpoint is attached to, unless it is being removed. */
export function namespaceOf(ep: EndpointRecord, state: HostState): NamespaceRecord | undefined {
  const ns = ep.namespaceId ? state.namespaces.get(ep.namespaceId) : undefined;
  return ns && !ns.deleting ? ns : undefined;
}

/**
 * Host-wide sysctls: forwarding, as soon as there is a network; and once an endpoint has ACLs,
 * bridged traffic through the IP hooks (br_netfilter), so that ACLs also see traffic between two
 * endpoints of one network. Neither is set back: other software may rely on them too.
 */
export function hostSysctls(anyNetwork: boolean, anyAcl: boolean): Sysctl[] {
  return [
    ...(anyNetwork ? [{ key: 'net/ipv4/ip_forward', value: '1' }] : []),
    ...(anyNetwork && anyAcl ? [{ key: 'net/bridge/bridge-nf-call-iptables', value: '1' }] : []),
  ];
}

/** A network's parts, from the planner of its mode (plan/modes/). */
export function planNetworkParts(net: NetworkRecord): NetworkParts {
  return modePlanner(net.type).network(net);
}

/**
 * The destinations other endpoints of its network route through `ep` (their SDNRoutes' NextHop is its
 * address): a router endpoint forwards packets from those, so it may send from them.
 */
export function routedVia(ep: EndpointRecord, state: HostState): string[] {
  const ids = state.index.routesVia.get(`${ep.networkId}/${ep.ip}`) ?? new Set<string>();
  const out = new Set<string>();
  for (const id of ids) for (const r of state.endpoints.get(id)?.policies.routes ?? []) if (r.nextHop === ep.ip) out.add(r.destination);
  return [...out].sort();
}

/**
 * `net` is the endpoint's network, `ns` its namespace (absent while detached), `via` the destinations
 * routed through it (routedVia).
 */
export function planEndpointParts(ep: EndpointRecord, net: NetworkRecord | undefined, ns: NamespaceRecord | undefined, via: string[] = []): EndpointParts {
  // An overlay remote endpoint is reached through the VXLAN device: it has entries, no rules here.
  if (ep.remote && net?.overlay) return { elements: new Map(), bridgeElements: new Map(), remote: remoteEntries(ep, net) };
  const { any, addr } = portMappingElements(ep);
  const elements = new Map<string, NftElement[]>();
  if (any.length) elements.set('pm_any', any);
  if (addr.length) elements.set('pm_addr', addr);
  const acls = effectiveAcls(ep.policies.acls, net?.acls);
  if (acls.length) for (const [set, els] of aclMapElements(ep, acls)) elements.set(set, els);
  const nat = ep.policies.outboundNat;
  if (nat) {
    const pair = (cidr: string) => ({ key: [ep.ip, cidr.replace(/\/32$/, '')], comment: `ep ${ep.id}` });
    // A NAT network's subnet is masqueraded as a whole; an uplink network's endpoint is translated
    // because it asks (OutBoundNAT), and never towards its own subnet: its neighbours on the wire.
    // An overlay endpoint's own virtual network (every subnet) is reached through it, never translated.
    const uplinkNat = net && net.type !== 'NAT';
    if (uplinkNat) elements.set('onat_eps', [{ key: [ep.ip], comment: `ep ${ep.id}` }]);
    const own = net?.overlay ? net.overlay.subnets.map((x) => x.prefix) : net ? [net.subnet] : [];
    const exceptions = uplinkNat && net ? [...own, ...nat.exceptions.filter((c) => !own.includes(c))] : nat.exceptions;
    if (exceptions.length) elements.set('nat_except', exceptions.map(pair));
    if (nat.destinations.length) {
      elements.set('nat_dest', nat.destinations.map(pair));
      elements.set('nat_dest_eps', [{ key: [ep.ip], comment: `ep ${ep.id}` }]);
    }
    if (nat.virtualIp) elements.set('snat_vip', [{ key: [ep.ip], value: nat.virtualIp, comment: `ep ${ep.id}` }]);
  }
  const veth = net && ns ? planVeth(ep, net, ns) : undefined;
  const bridgeElements = new Map<string, NftElement[]>();
  if (veth) {
    const comment = `ep ${ep.id}`;
    const name = `"${veth.name}"`;
    bridgeElements.set('ep_ok', [{ key: [name, ep.mac, ep.ip], comment }]);
    bridgeElements.set('ep_src', [{ key: [name, ep.ip], comment }]);
    if (via.length) bridgeElements.set('ep_routed', via.map((d) => ({ key: [name, d], comment })));
    bridgeElements.set('ep_mac', [{ key: [name, ep.mac], comment }]);
    for (const [set, els] of modePlanner(net!.type).endpointBridgeElements(ep, net!)) bridgeElements.set(set, els);
  }
  return { ...(veth ? { veth } : {}), elements, bridgeElements };
}

/**
 * An endpoint's ACL elements, by map. Its rules (`acls`: its network's and its own) are elements of
 * two verdict maps (plan/acl-maps.ts), read at prerouting for what the endpoint sends (saddr, before
 * any DNAT) and at postrouting for what it receives (daddr, after DNAT), so even a hairpin to its own
 * published port meets each direction's rules once. Any ACL makes both directions default-deny
 * (HNS's rule); replies of allowed flows pass.
 */
export function aclMapElements(ep: EndpointRecord, acls: readonly AclRule[]): Map<string, NftElement[]> {
  let out, inn;
  try {
    out = aclElements(ep.ip, acls, 'Out');
    inn = aclElements(ep.ip, acls, 'In');
  } catch (e) {
    // Rules stored before a limit they now exceed (new requests are checked before they are
    // stored): the endpoint fails closed, every new flow meets the default. hostd warns at start.
    if (!(e instanceof SyError)) throw e;
    out = { elements: [], fallback: defaultElement(ep.ip, 'Out') };
    inn = { elements: [], fallback: defaultElement(ep.ip, 'In') };
  }
  return new Map([
    ['acl_eps', [{ key: [ep.ip], comment: `ep ${ep.id}` }]],
    ['acl_out', out.elements],
    ['acl_in', inn.elements],
    ['acl_out_default', [out.fallback]],
    ['acl_in_default', [inn.fallback]],
  ]);
}

/** Whether the endpoint meets ACLs (its own or its network's). */
export function hasAcls(p: EndpointParts): boolean {
  return p.elements.has('acl_eps');
}

/**
 * The MTU of an endpoint's interface: its network's (or Linux's 1500) less any EncapOverhead; on an
 * overlay network the underlay's less the VXLAN overhead unless EncapOverhead says otherwise.
 */
export function endpointMtu(ep: EndpointRecord, net: NetworkRecord | undefined): number | undefined {
  const overhead = ep.policies.encapOverhead ?? (net?.overlay ? VXLAN_OVERHEAD : undefined);
  if (overhead === undefined && !net?.mtu) return undefined;
  return (net?.mtu ?? 1500) - (overhead ?? 0);
}

function sortById<T extends { id: string }>(xs: T[]): T[] {
  return xs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function prefixLen(subnet: string): string {
  return subnet.split('/')[1]!;
}

function planVeth(ep: EndpointRecord, net: NetworkRecord, ns: NamespaceRecord): VethPlan {
  const mode = modePlanner(net.type);
  // A leased address comes with its own prefix and router (none: no default route).
  const gateway = ep.dhcp ? ep.dhcp.gateway : mode.gateway(net, ep.ip);
  const subnet = subnetOf(net, ep.ip)?.prefix ?? net.subnet;
  const mtu = endpointMtu(ep, net);
  const qos = ep.policies.qos;
  return {
    name: vethName(ep.id),
    endpointId: ep.id,
    bridge: networkBridge(net),
    port: mode.port(net),
    netnsPath: ns.path,
    ifName: ep.ifName,
    mac: ep.mac,
    address: `${ep.ip}/${ep.dhcp ? ep.dhcp.prefixLength : prefixLen(subnet)}`,
    ...(gateway ? { gateway } : {}),
    ...(gateway && net.overlay ? { gatewayMac: net.overlay.drMac } : {}),
    settings: {
      ...(mtu ? { mtu } : {}),
      routes: ep.policies.routes.map((r) => ({ dst: r.destination, ...(r.nextHop ? { via: r.nextHop } : {}), ...(r.metric ? { metric: r.metric } : {}) })),
      ...(qos?.egressBytes ? { egressBytes: qos.egressBytes } : {}),
      ...(qos?.ingressBytes ? { ingressBytes: qos.ingressBytes } : {}),
      ...(qos?.egressBurst ? { egressBurst: qos.egressBurst } : {}),
      ...(qos?.ingressBurst ? { ingressBurst: qos.ingressBurst } : {}),
    },
  };
}

/** The first line of every resolv.conf Switchyard writes: only such a file is ever removed. */
export const RESOLV_CONF_MARK = '# written by switchyard';

/** `attached`: the endpoints in this namespace, sorted by id. */
export function planNamespace(ns: NamespaceRecord, attached: EndpointRecord[], state: HostState): NamespacePlan {
  const plan: NamespacePlan = { id: ns.id, path: ns.path, create: ns.owned };
  const m = /^\/run\/netns\/([^/]+)$/.exec(ns.path);
  if (!m) return plan;
  plan.resolvConf = { path: `/etc/netns/${m[1]}/resolv.conf`, content: null };
  // The first attached endpoint with DNS settings (its own, else its network's) decides resolv.conf.
  for (const ep of attached) {
    const dns = ep.dns ?? state.networks.get(ep.networkId)?.dns;
    if (!dns || (!dns.servers.length && !dns.search.length && !dns.domain)) continue;
    const lines = [RESOLV_CONF_MARK];
    const search = [...(dns.domain ? [dns.domain] : []), ...dns.search];
    if (search.length) lines.push(`search ${search.join(' ')}`);
    for (const s of dns.servers) lines.push(`nameserver ${s}`);
    if (dns.options.length) lines.push(`options ${dns.options.join(' ')}`);
    plan.resolvConf = { path: `/etc/netns/${m[1]}/resolv.conf`, content: lines.join('\n') + '\n' };
    break;
  }
  return plan;
}

/** Map elements for one endpoint's port mappings (one element per port of a range). */
export function portMappingElements(ep: EndpointRecord): { any: NftElement[]; addr: NftElement[] } {
  const any: NftElement[] = [];
  const addr: NftElement[] = [];
  const comment = `ep ${ep.id}`;
  for (const pm of ep.portMappings) {
    for (let i = 0; i < pm.count; i++) {
      const proto = PROTO_NAMES[pm.protocol]!;
      const value = `${ep.ip} . ${pm.internalPort + i}`;
      const hostPort = String(pm.externalPort + i);
      if (pm.hostIp) addr.push({ key: [proto, pm.hostIp, hostPort], value, comment });
      else any.push({ key: [proto, hostPort], value, comment });
    }
  }
  return { any, addr };
}

/**
 * The bridge table: a frame an endpoint's veth brings into the bridge must carry the endpoint's own
 * MAC, and its IPv4 and ARP the endpoint's own address (or one routed through it); IPv6 (not served
 * yet) does not pass. Checked before any IP hook, so no endpoint can take another's address to slip
 * past ACLs or isolation.
 */
export function nftBridgeBase(): NftTable {
  return {
    family: 'bridge',
    name: NFT_TABLE,
    comment: 'managed by switchyard hostd, do not edit',
    sets: [
      { name: 'ep_ok', keyTypes: ['ifname', 'ether_addr', 'ipv4_addr'], comment: 'endpoint veths with their MAC and address: the common case, one lookup', elements: [] },
      // Its own address in a hash set (one lookup for nearly every packet), what is routed through
      // it (a router endpoint) in an interval set, looked up only when the first misses.
      { name: 'ep_src', keyTypes: ['ifname', 'ipv4_addr'], comment: 'endpoint veths and their addresses', elements: [] },
      { name: 'ep_routed', keyTypes: ['ifname', 'ipv4_addr'], flags: ['interval'], comment: 'endpoint veths and the destinations routed through them', elements: [] },
      { name: 'ep_mac', keyTypes: ['ifname', 'ether_addr'], comment: 'endpoint veths and their MACs', elements: [] },
      { name: 'ep_by_ip', keyTypes: ['ifname', 'ipv4_addr'], valueType: 'ether_addr', comment: 'L2Bridge and L2Tunnel: adapter . endpoint address to the endpoint MAC', elements: [] },
    ],
    chains: [
      {
        name: 'spoof',
        base: 'type filter hook prerouting priority -200; policy accept;',
        rules: [
          'iifname . ether saddr . ip saddr @ep_ok accept',
          `iifname != "${LINK_PREFIX}ep-*" accept`,
          'iifname . ether saddr != @ep_mac counter drop comment "spoofed MAC"',
          'ether type ip iifname . ip saddr != @ep_routed counter drop comment "spoofed IPv4 source"',
          'ether type arp iifname . arp saddr ip != @ep_src iifname . arp saddr ip != @ep_routed counter drop comment "spoofed ARP"',
          'ether type ip6 counter drop comment "IPv6 is not served"',
        ],
      },
    ],
  };
}

/** The bridge table filled with the given networks' and endpoints' parts. */
export function assembleBridgeTable(nets: NetworkParts[], eps: EndpointParts[]): NftTable {
  const t = nftBridgeBase();
  const sets = new Map(t.sets.map((s) => [s.name, s]));
  for (const p of eps) {
    for (const [name, els] of p.bridgeElements) {
      const set = sets.get(name);
      if (!set) throw new Error(`plan: no bridge set ${name}`);
      for (const e of els) set.elements.push(e);
    }
  }
  for (const n of nets) t.chains.push(...(n.bridgeChains ?? []));
  return t;
}

/** The netdev table: a base chain per adapter whose outgoing frames are rewritten. */
export function assembleNetdevTable(nets: NetworkParts[]): NftTable {
  return { family: 'netdev', name: NFT_TABLE, comment: 'managed by switchyard hostd, do not edit', sets: [], chains: nets.flatMap((n) => n.netdevChains ?? []) };
}

/** The table for these records alone (whole when given all of them); for tests and tools. */
export function planNftTable(networks: NetworkRecord[], endpoints: EndpointRecord[]): NftTable {
  return assembleTable(networks.map(planNetworkParts), endpoints.map((e) => planEndpointParts(e, undefined, undefined)));
}

/** The table with its sets (empty) and the base chains that every host with a network has. */
export function nftBase(): NftTable {
  const sets: NftSet[] = [
    {
      name: 'pm_any',
      keyTypes: ['inet_proto', 'inet_service'],
      valueType: 'ipv4_addr . inet_service',
      comment: 'port mappings on every host address',
      elements: [],
    },
    {
      name: 'pm_addr',
      keyTypes: ['inet_proto', 'ipv4_addr', 'inet_service'],
      valueType: 'ipv4_addr . inet_service',
      comment: 'port mappings bound to one host address',
      elements: [],
    },
    {
      name: 'nat_subnets',
      keyTypes: ['ipv4_addr'],
      flags: ['interval'],
      comment: 'subnets of NAT networks, masqueraded on the way out',
      elements: [],
    },
    // ACLs (plan/acl-maps.ts): the endpoints that have any, their rules as disjoint boxes of each
    // direction, and each direction's default, every element with its own counter.
    { name: 'acl_eps', keyTypes: ['ipv4_addr'], comment: 'endpoints with ACLs', elements: [] },
    ...(['Out', 'In'] as const).map((dir): NftSet => ({
      name: `acl_${dir.toLowerCase()}`,
      keyTypes: ['ipv4_addr', 'inet_proto', 'ipv4_addr', 'inet_service', 'inet_service'],
      valueType: 'verdict',
      flags: ['interval'],
      counter: true,
      comment: `ACLs ${dir}: endpoint . protocol . remote address . local port . remote port`,
      elements: [],
    })),
    ...(['Out', 'In'] as const).map((dir): NftSet => ({
      name: `acl_${dir.toLowerCase()}_default`,
      keyTypes: ['ipv4_addr'],
      valueType: 'verdict',
      counter: true,
      comment: `what no ACL ${dir} decides`,
      elements: [],
    })),
    {
      name: 'onat_eps',
      keyTypes: ['ipv4_addr'],
      comment: 'endpoints of uplink networks with an OutBoundNAT policy',
      elements: [],
    },
    {
      name: 'nat_except',
      keyTypes: ['ipv4_addr', 'ipv4_addr'],
      flags: ['interval'],
      comment: 'OutBoundNAT exceptions: endpoint . destination not translated',
      elements: [],
    },
    {
      name: 'nat_dest',
      keyTypes: ['ipv4_addr', 'ipv4_addr'],
      flags: ['interval'],
      comment: 'OutBoundNAT destinations: endpoint . destination translated',
      elements: [],
    },
    {
      name: 'nat_dest_eps',
      keyTypes: ['ipv4_addr'],
      comment: 'endpoints whose OutBoundNAT names its destinations',
      elements: [],
    },
    {
      name: 'snat_vip',
      keyTypes: ['ipv4_addr'],
      valueType: 'ipv4_addr',
      comment: 'OutBoundNAT VirtualIP per endpoint',
      elements: [],
    },
    {
      name: 'fwd_into_net',
      keyTypes: ['ifname'],
      valueType: 'verdict',
      comment: 'forwarded traffic entering a network bridge',
      elements: [],
    },
    {
      name: 'fwd_from_net',
      keyTypes: ['ifname'],
      valueType: 'verdict',
      comment: 'forwarded traffic leaving a network bridge whose way out is limited',
      elements: [],
    },
    {
      name: 'post_into_net',
      keyTypes: ['ifname'],
      valueType: 'verdict',
      comment: 'source NAT for traffic entering a network bridge',
      elements: [],
    },
    {
      name: 'net_gateway',
      keyTypes: ['ifname', 'ipv4_addr'],
      comment: 'network bridges and their gateways: ICMP echo from endpoints',
      elements: [],
    },
    {
      name: 'gateway_dns',
      keyTypes: ['ifname', 'ipv4_addr'],
      comment: 'network bridges whose gateway is their DNS server: DNS from endpoints',
      elements: [],
    },
    {
      name: 'host_access',
      keyTypes: ['ifname', 'inet_proto', 'inet_service'],
      flags: ['interval'],
      comment: 'HostAccess policies: ports endpoints may open on the host',
      elements: [],
    },
  ];
  const chains: NftChain[] = [
    {
      name: 'portmaps',
      rules: ['dnat ip to meta l4proto . ip daddr . th dport map @pm_addr', 'dnat ip to meta l4proto . th dport map @pm_any'],
    },
    {
      name: 'nat-prerouting',
      base: 'type nat hook prerouting priority dstnat; policy accept;',
      rules: ['fib daddr type local jump portmaps'],
    },
    {
      name: 'nat-output',
      base: 'type nat hook output priority -100; policy accept;',
      rules: ['fib daddr type local jump portmaps'],
    },
    {
      name: 'nat-postrouting',
      base: 'type nat hook postrouting priority srcnat; policy accept;',
      rules: [
        'oifname vmap @post_into_net',
        'ip saddr . ip daddr @nat_except accept',
        'ip saddr @nat_dest_eps ip saddr . ip daddr != @nat_dest accept',
        `ip saddr @nat_subnets oifname != "${ANY_BRIDGE}" snat ip to ip saddr map @snat_vip`,
        `ip saddr @nat_subnets oifname != "${ANY_BRIDGE}" masquerade`,
        'ip saddr @onat_eps snat ip to ip saddr map @snat_vip',
        'ip saddr @onat_eps masquerade',
      ],
    },
    {
      // after conntrack, before port mappings' DNAT: what the endpoint sent, as it sent it
      name: 'acl-out',
      base: 'type filter hook prerouting priority -150; policy accept;',
      rules: [
        'ip saddr != @acl_eps accept',
        'ct state established,related accept',
        'ip saddr . meta l4proto . ip daddr . th sport . th dport vmap @acl_out',
        'ip saddr vmap @acl_out_default',
      ],
    },
    {
      // after DNAT, before masquerade: what reaches the endpoint (bridged traffic via br_netfilter)
      name: 'acl-in',
      base: 'type filter hook postrouting priority filter; policy accept;',
      rules: [
        'ip daddr != @acl_eps accept',
        'ct state established,related accept',
        'ip daddr . meta l4proto . ip saddr . th dport . th sport vmap @acl_in',
        'ip daddr vmap @acl_in_default',
      ],
    },
    {
      name: 'forward',
      base: 'type filter hook forward priority filter; policy accept;',
      rules: ['iifname vmap @fwd_from_net', 'oifname vmap @fwd_into_net'],
    },
    {
      // Before conntrack and NAT: with route_localnet on (for the host's 127.0.0.1 to published
      // ports) a bridge would otherwise take packets an endpoint addresses to 127.0.0.1 at the
      // gateway's MAC, and hand them to the host's loopback services or to port mappings.
      name: 'from-net',
      base: 'type filter hook prerouting priority raw; policy accept;',
      rules: [`iifname "${ANY_BRIDGE}" ip daddr 127.0.0.0/8 counter drop comment "loopback address from a network"`],
    },
    {
      // New flows from endpoints to the host itself (the gateway, every host address): only what
      // is always allowed and what the network's HostAccess policies open.
      name: 'host-in',
      base: 'type filter hook input priority filter; policy accept;',
      rules: [
        `iifname != "${ANY_BRIDGE}" accept`,
        'ct state established,related accept',
        'icmp type { destination-unreachable, time-exceeded, parameter-problem } accept',
        'icmp type echo-request iifname . ip daddr @net_gateway accept',
        'meta l4proto { tcp, udp } th dport 53 iifname . ip daddr @gateway_dns accept',
        'iifname . meta l4proto . th dport @host_access accept',
        'counter drop comment "host access"',
      ],
    },
  ];
  return { family: 'inet', name: NFT_TABLE, comment: 'managed by switchyard hostd, do not edit', sets, chains };
}

/**
 * The base table filled with the given objects' parts. With every object it is the whole table; with
 * only some (the incremental path) it is the part of the table those objects own.
 */
export function assembleTable(nets: NetworkParts[], eps: EndpointParts[]): NftTable {
  const t = nftBase();
  const sets = new Map(t.sets.map((s) => [s.name, s]));
  for (const p of [...eps, ...nets]) {
    for (const [name, els] of p.elements) {
      const set = sets.get(name);
      if (!set) throw new Error(`plan: no set ${name}`);
      for (const e of els) set.elements.push(e);
    }
  }
  for (const n of nets) t.chains.push(...n.chains);
  return t;
}
