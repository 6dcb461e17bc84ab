/**
 * Translation between CNI and HCN, both ways, and nothing else: a CNI attachment becomes a
 * HostComputeEndpoint request (port mappings → PortMapping policies, bandwidth → QOS, dns, static
 * addresses), a network config becomes a HostComputeNetwork, and hostd's endpoint document becomes
 * the CNI result in the version the runtime asked for. Pure: no I/O.
 */
import type { BandwidthRequest, CniResult, HcnPolicy, NetConf, PortMappingRequest, Request } from './config.js';

/** An endpoint document as hostd answers it (the fields the plugin reads). */
export interface EndpointDoc {
  ID: string;
  Name: string;
  HostComputeNetwork: string;
  HostComputeNamespace?: string;
  IpConfigurations: { IpAddress: string; PrefixLength: number }[];
  Routes?: { NextHop?: string; DestinationPrefix?: string }[];
  Dns?: { Domain?: string; Suffix?: string; Search?: string[]; ServerList?: string[]; Options?: string[] };
  MacAddress: string;
  InterfaceName?: string;
  HostIfName?: string;
  NamespacePath?: string;
  Policies?: HcnPolicy[];
  Health?: { Status: string; Reason?: string };
}

export interface NetworkDoc {
  ID: string;
  Name: string;
  Type: string;
  MTU?: number;
  Ipams?: { Type?: string; Subnets?: { IpAddressPrefix?: string; Routes?: { NextHop?: string }[] }[] }[];
}

/** Name prefix of the endpoints the plugin makes; GC only ever removes endpoints that carry it. */
export const ENDPOINT_PREFIX = 'cni-';
export const ENDPOINT_NAME_RE = /^cni-[0-9a-f]{32}$/;

/**
 * The hostd endpoint name of one attachment: a digest of (network, container, interface), so DEL,
 * CHECK and GC find it again from the CNI identity alone, with nothing stored in the plugin.
 */
export async function attachmentName(sha256hex: (s: string) => Promise<string> | string, network: string, containerId: string, ifName: string): Promise<string> {
  return ENDPOINT_PREFIX + (await sha256hex(`${network}\0${containerId}\0${ifName}`)).slice(0, 32);
}

const PROTOCOLS = { tcp: 6, udp: 17, sctp: 132 } as const;

export function portMappingPolicy(m: PortMappingRequest): HcnPolicy {
  return {
    Type: 'PortMapping',
    Settings: { Protocol: PROTOCOLS[m.protocol], InternalPort: m.containerPort, ExternalPort: m.hostPort, ...(m.hostIP ? { VIP: m.hostIP } : {}) },
  };
}

/**
 * CNI bandwidth (bits/s, ingress = into the container) as one HCN QOS policy (bytes/s).
 * HCN's MaximumOutgoingBandwidthInBytes is what the endpoint sends (CNI egress); the ingress cap and
 * the bursts are Switchyard extensions. Undefined when no rate is asked for.
 */
export function qosPolicy(b: BandwidthRequest | undefined): HcnPolicy | undefined {
  if (!b || (!b.egressRate && !b.ingressRate)) return undefined;
  const bytes = (bits: number | undefined) => (bits ? Math.max(1, Math.floor(bits / 8)) : undefined);
  const s: Record<string, number> = {};
  if (b.egressRate) s.MaximumOutgoingBandwidthInBytes = bytes(b.egressRate)!;
  if (b.egressRate && b.egressBurst) s.OutgoingBurstInBytes = bytes(b.egressBurst)!;
  if (b.ingressRate) s.MaximumIncomingBandwidthInBytes = bytes(b.ingressRate)!;
  if (b.ingressRate && b.ingressBurst) s.IncomingBurstInBytes = bytes(b.ingressBurst)!;
  return { Type: 'QOS', Settings: s };
}

/** The network hostd makes on the first ADD of a config. */
export function networkRequest(conf: NetConf): Record<string, unknown> {
  const subnet = conf.subnet ?? conf.ipRanges[0]?.[0]?.subnet;
  const gateway = conf.gateway ?? conf.ipRanges[0]?.[0]?.gateway;
  return {
    Name: conf.name,
    Type: conf.networkType,
    ...(subnet
      ? {
          Ipams: [{
            Type: 'Static',
            Subnets: [{
              IpAddressPrefix: subnet,
              ...(gateway ? { Routes: [{ NextHop: gateway, DestinationPrefix: '0.0.0.0/0' }] } : {}),
              ...(conf.vsid !== undefined ? { Policies: [{ Type: 'VSID', Settings: { IsolationId: conf.vsid } }] } : {}),
            }],
          }],
        }
      : {}),
    ...(conf.mtu ? { MTU: conf.mtu } : {}),
    ...(conf.networkPolicies.length ? { Policies: conf.networkPolicies } : {}),
    SchemaVersion: { Major: 2, Minor: 0 },
  };
}

/** The network request of a config with `"ipam": {"type": "dhcp"}`: its Ipam is DHCP, its subnet (if given) the physical network's prefix. */
export function dhcpNetworkRequest(conf: NetConf): Record<string, unknown> {
  const req = networkRequest(conf);
  if (!conf.dhcp) return req;
  const subnets = (req.Ipams as { Subnets?: { IpAddressPrefix?: string }[] }[] | undefined)?.[0]?.Subnets;
  return { ...req, Ipams: [{ Type: 'DHCP', ...(subnets ? { Subnets: subnets.map((x) => ({ IpAddressPrefix: x.IpAddressPrefix })) } : {}) }] };
}


/**
 * The endpoint hostd makes for an ADD; `ip` is a static address when the runtime asked for one.
 * DNS is not sent: under CNI the runtime writes the container's resolv.conf from the result's dns,
 * and hostd's /etc/netns/NAME/resolv.conf would only be read by `ip netns exec` (and outlives
 * adopted namespaces today).
 */
export function endpointRequest(req: Request, name: string, ip: string | undefined): Record<string, unknown> {
  const c = req.conf;
  const qos = qosPolicy(c.bandwidth);
  return {
    Name: name,
    HostComputeNetwork: c.name,
    HostComputeNamespace: req.netns,
    // hostd adopts the runtime's namespace with the endpoint and forgets it with its last endpoint
    AdoptNamespace: true,
    InterfaceName: req.ifName,
    Policies: [...c.portMappings.map(portMappingPolicy), ...(qos ? [qos] : []), ...c.endpointPolicies],
    ...(ip ? { IpConfigurations: [{ IpAddress: ip }] } : {}),
    SchemaVersion: { Major: 2, Minor: 0 },
  };
}

/**
 * The CNI result for an endpoint: the host-side veth, the container interface (with its sandbox),
 * the address with its gateway, the default route and DNS. A prevResult from an earlier plugin in
 * the chain is kept, with our interfaces appended after its own.
 */
export function resultOf(ep: EndpointDoc, req: Request, mtu?: number): CniResult {
  const prev = req.conf.prevResult;
  const base = prev?.interfaces?.length ?? 0;
  const ipc = ep.IpConfigurations[0]!;
  const gw = ep.Routes?.find((r) => (r.DestinationPrefix ?? '0.0.0.0/0') === '0.0.0.0/0')?.NextHop;
  const mac = ep.MacAddress.replace(/-/g, ':').toLowerCase();
  // the runtime's dns, else the config's, else the network's (a network made outside CNI may have one)
  const asked = req.conf.runtimeDns ?? req.conf.dns;
  const dnsDoc = asked ? { ServerList: asked.nameservers, Domain: asked.domain, Search: asked.search, Options: asked.options } : (ep.Dns ?? {});
  const dns = {
    ...(dnsDoc.ServerList?.length ? { nameservers: dnsDoc.ServerList } : {}),
    ...((dnsDoc.Domain ?? dnsDoc.Suffix) ? { domain: dnsDoc.Domain ?? dnsDoc.Suffix } : {}),
    ...(dnsDoc.Search?.length ? { search: dnsDoc.Search } : {}),
    ...(dnsDoc.Options?.length ? { options: dnsDoc.Options } : {}),
  };
  const result: CniResult = {
    cniVersion: req.conf.cniVersion,
    interfaces: [
      ...(prev?.interfaces ?? []),
      { name: ep.HostIfName ?? '', ...(mtu ? { mtu } : {}) },
      { name: ep.InterfaceName ?? req.ifName, mac, ...(mtu ? { mtu } : {}), sandbox: ep.NamespacePath ?? req.netns },
    ],
    ips: [...(prev?.ips ?? []), { address: `${ipc.IpAddress}/${ipc.PrefixLength}`, ...(gw ? { gateway: gw } : {}), interface: base + 1 }],
    routes: [...(prev?.routes ?? []), ...(gw ? [{ dst: '0.0.0.0/0', gw }] : [])],
    dns: Object.keys(dns).length ? dns : (prev?.dns ?? {}),
  };
  return forVersion(result, req.conf.cniVersion);
}

/** Converts a 1.x result to the shape of an older spec version (0.3.x/0.4.0 carry ips[].version). */
export function forVersion(r: CniResult, version: string): CniResult {
  if (version.startsWith('1.')) return { ...r, cniVersion: version };
  return { ...r, cniVersion: version, ips: r.ips?.map((ip) => ({ version: '4', ...ip })) };
}

/** What CHECK compares: the endpoint hostd has against the attachment the runtime remembers. */
export function checkDifferences(ep: EndpointDoc, req: Request): string[] {
  const out: string[] = [];
  if (ep.Health?.Status === 'Error') out.push(`hostd reports the endpoint broken: ${ep.Health.Reason ?? ''}`);
  if (ep.NamespacePath !== req.netns) out.push(`the endpoint is in namespace ${JSON.stringify(ep.NamespacePath ?? null)}, not ${JSON.stringify(req.netns)}`);
  if ((ep.InterfaceName ?? 'eth0') !== req.ifName) out.push(`the endpoint's interface is ${ep.InterfaceName}, not ${req.ifName}`);
  const ours = ep.IpConfigurations.map((c) => c.IpAddress);
  const prev = req.conf.prevResult;
  if (prev) {
    const wanted = (prev.ips ?? []).map((i) => i.address.split('/')[0]!);
    const mine = wanted.filter((a) => ours.includes(a));
    if (!mine.length) out.push(`prevResult has none of the endpoint's addresses (${ours.join(', ')})`);
    const mac = ep.MacAddress.replace(/-/g, ':').toLowerCase();
    const iface = prev.interfaces?.find((i) => i.sandbox && i.name === req.ifName);
    if (iface?.mac && iface.mac.toLowerCase() !== mac) out.push(`prevResult's ${req.ifName} has MAC ${iface.mac}, the endpoint ${mac}`);
  }
  return out;
}

/** Addresses from rangeStart to rangeEnd (inclusive), in order, skipping the network's own ones. */
export function rangeCandidates(subnet: string, start: string | undefined, end: string | undefined, gateway: string | undefined): string[] {
  const toInt = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const toIp = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
  const [base, p] = subnet.split('/');
  const size = 2 ** (32 - Number(p));
  const net = Math.floor(toInt(base!) / size) * size;
  const first = start ? toInt(start) : net + 1;
  const last = end ? toInt(end) : net + size - 2;
  const out: string[] = [];
  for (let n = Math.max(first, net + 1); n <= Math.min(last, net + size - 2) && out.length < 65536; n++) {
    const ip = toIp(n);
    if (ip !== gateway) out.push(ip);
  }
  return out;
}
