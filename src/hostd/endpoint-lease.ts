/**
 * An endpoint request on a DHCP network, the parts of it that differ from a static one: what such a
 * request may ask, the lease its address comes from (checked against the network before it is
 * used), how hostd stores a renewed lease, and the releases when endpoints go.
 */
import type { DhcpInterface, Lease } from '../dhcp/client.js';
import { SyError } from '../errors.js';
import type { HostComputeEndpoint } from '../hcn/schema.js';
import { cidrContains, ipToInt, parseCidr } from '../model/ipv4.js';
import type { EndpointRecord, NamespaceRecord, NetworkRecord } from '../model/records.js';
import type { HostState } from '../model/state.js';
import type { DhcpLeases, LeaseHost, LeasePort } from './dhcp-leases.js';
import type { Store } from './store.js';

/**
 * Refuses what an endpoint of DHCP network `net` cannot be: one without a namespace (the exchange
 * runs from its interface there) or one asking for an address (the server chooses it).
 */
export function checkDhcpRequest(doc: HostComputeEndpoint, net: NetworkRecord, ns: NamespaceRecord | undefined): void {
  if (!ns) throw new SyError('SY_BAD_REQUEST', `Network "${net.name}" leases its endpoints' addresses by DHCP, from inside their namespace: give HostComputeNamespace`);
  if (doc.IpConfigurations?.some((c) => c.IpAddress)) {
    throw new SyError('SY_BAD_REQUEST', `Network "${net.name}" leases its endpoints' addresses by DHCP: the server chooses the address, so IpConfigurations takes none (reserve one for the MAC on the server instead)`);
  }
}

/**
 * Leases the address of a new endpoint (DhcpLeases.acquire) and checks it fits: on the network's
 * subnet, not another endpoint's, not the host's own. A lease that does not fit is released and
 * the request refused.
 */
export function leaseForEndpoint(leases: DhcpLeases, port: LeasePort, net: NetworkRecord, state: HostState, hostOwn: Set<string>): Promise<Lease> {
  const cidr = parseCidr(net.subnet);
  return leases.acquire(port, (l) => {
    const from = `DHCP server "${l.serverId}" leased ${l.address}/${l.prefixLength}`;
    if (!cidrContains(cidr, ipToInt(l.address))) throw new SyError('SY_INVALID_ADDRESS', `${from}, outside subnet ${net.subnet} of network "${net.name}"; the lease was released`);
    const other = state.index.addresses.get(net.id)?.get(l.address);
    if (other) throw new SyError('SY_ADDRESS_IN_USE', `${from}, the address of endpoint ${other} on "${net.name}"; the lease was released`);
    if (hostOwn.has(l.address)) throw new SyError('SY_ADDRESS_IN_USE', `${from}, an address of this host; the lease was released`);
  });
}

/** A network's document, for a DHCP network with its Ipam as it is: DHCP, the physical network's prefix, no router of its own. */
export function withDhcpIpam<D extends { Ipams: unknown }>(doc: D, n: NetworkRecord): D {
  return n.dhcp ? { ...doc, Ipams: [{ Type: 'DHCP', Subnets: [{ IpAddressPrefix: n.subnet }] }] } : doc;
}

/**
 * An endpoint's document, for one with a lease: the lease's prefix and router (a lease without a
 * router gives no default route) and, as a Switchyard extension, the lease itself (times in ISO 8601).
 */
export function withLease<D extends { IpConfigurations: unknown[]; Routes: { DestinationPrefix: string }[] }>(doc: D, e: EndpointRecord): D & { Dhcp?: Record<string, unknown> } {
  const l = e.dhcp;
  if (!l) return doc;
  const at = (t: number) => new Date(t).toISOString();
  return {
    ...doc,
    IpConfigurations: [{ IpAddress: e.ip, PrefixLength: l.prefixLength }],
    Routes: [...(l.gateway ? [{ NextHop: l.gateway, DestinationPrefix: '0.0.0.0/0' }] : []), ...doc.Routes.filter((r) => r.DestinationPrefix !== '0.0.0.0/0')],
    Dhcp: { Server: l.serverId, LeaseSeconds: l.leaseSeconds, ObtainedAt: at(l.obtainedAt), RenewAt: at(l.renewAt), RebindAt: at(l.rebindAt), ExpiresAt: at(l.expiresAt) },
  };
}

/** What DhcpLeases needs of hostd: its queue, where an endpoint's lease lives, how a renewed lease is stored. */
export function leaseHostOf(state: HostState, store: Store, serial: <T>(fn: () => Promise<T>) => Promise<T>): LeaseHost {
  return {
    serial,
    interfaceOf: (id) => {
      const ep = state.endpoints.get(id);
      return ep ? interfaceOf(ep, state) : undefined;
    },
    saveLease: async (id, was, next) => {
      const ep = state.endpoints.get(id);
      if (!ep?.dhcp || ep.dhcp.obtainedAt !== was.obtainedAt || ep.dhcp.address !== next.address) return;
      const rec: EndpointRecord = { ...ep, dhcp: next };
      await store.put('endpoints', rec);
      state.endpoints.set(id, rec);
    },
  };
}

/** The interface an endpoint's lease lives on: its own, in its namespace. */
function interfaceOf(ep: EndpointRecord, state: HostState): DhcpInterface | undefined {
  const ns = ep.namespaceId ? state.namespaces.get(ep.namespaceId) : undefined;
  return ns ? { nsPath: ns.path, ifName: ep.ifName, mac: ep.mac } : undefined;
}

/** Releases the leases of endpoints being removed (their records are gone, their veths not yet). */
export async function releaseLeases(leases: DhcpLeases, removed: EndpointRecord[], state: HostState): Promise<void> {
  for (const ep of removed) if (ep.dhcp) await leases.release(ep.id, ep.dhcp, interfaceOf(ep, state));
}
