/**
 * What an endpoint on an Overlay network must be, checked before anything changes. A remote endpoint
 * (Flags RemoteEndpoint) is "CA with MAC X lives behind PA P": it takes its ProviderAddress policy,
 * which must not be this host's, and nothing else (its own host applies its policies). A local
 * endpoint's ProviderAddress, if given, is this host's. A MAC is used once in a virtual network (the
 * VXLAN FDB is keyed by it), and never the distributed router's.
 */
import { SyError } from '../errors.js';
import type { EndpointPolicies } from '../model/policies.js';
import type { NetworkRecord } from '../model/records.js';
import type { HostState } from '../model/state.js';

export function checkOverlayEndpoint(net: NetworkRecord, ep: { id: string; ip: string; mac: string; remote?: true; policies: EndpointPolicies }, state: HostState): void {
  const pa = ep.policies.providerAddress;
  const o = net.overlay;
  if (!o) {
    if (pa) throw new SyError('SY_NOT_SUPPORTED', `ProviderAddress is an Overlay endpoint's policy; network "${net.name}" is ${net.type}`);
    return;
  }
  if (ep.remote) {
    if (!pa) throw new SyError('SY_BAD_REQUEST', 'A remote Overlay endpoint needs the provider address of its host: {"Type": "ProviderAddress", "Settings": {"ProviderAddress": "10.0.0.12"}}');
    if (pa === o.providerAddress) throw new SyError('SY_BAD_REQUEST', `ProviderAddress ${pa} is this host's: a remote endpoint lives on another host`);
    const p = ep.policies;
    const other = p.acls.length ? 'ACL' : p.qos ? 'QOS' : p.outboundNat ? 'OutBoundNAT' : p.routes.length ? 'SDNRoute' : p.encapOverhead !== undefined ? 'EncapOverhead' : undefined;
    if (other) throw new SyError('SY_NOT_SUPPORTED', `A remote Overlay endpoint takes its ProviderAddress policy only (its own host applies ${other})`);
  } else if (pa && pa !== o.providerAddress) {
    throw new SyError('SY_BAD_REQUEST', `ProviderAddress ${pa} of a local endpoint must be this host's (${o.providerAddress})`);
  }
  if (ep.mac === o.drMac) throw new SyError('SY_ADDRESS_IN_USE', `MAC ${ep.mac} is the distributed router's of network "${net.name}"`);
  checkSharedAddress(net, ep, state);
  for (const id of state.index.endpointsByNetwork.get(net.id) ?? []) {
    const other = state.endpoints.get(id);
    if (other && other.id !== ep.id && other.mac === ep.mac) {
      throw new SyError('SY_ADDRESS_IN_USE', `MAC ${ep.mac} is already endpoint "${other.name}"'s in VSID ${o.vni}`);
    }
  }
}

/**
 * Two tenants may give one CA to an endpoint each on this host, but the host's ACL and OutBoundNAT
 * elements are keyed by the endpoint's address (inet table): an address shared across networks is
 * refused where either endpoint (or its network) has ACLs or OutBoundNAT, rather than let one
 * tenant's rules or translation apply to the other's packets.
 */
function checkSharedAddress(net: NetworkRecord, ep: { id: string; ip: string; remote?: true; policies: EndpointPolicies }, state: HostState): void {
  if (ep.remote) return;
  const keyed = (p: EndpointPolicies, n: NetworkRecord | undefined) => p.acls.length > 0 || !!p.outboundNat || !!n?.acls?.length;
  for (const [netId, addrs] of state.index.addresses) {
    const id = netId === net.id ? undefined : addrs.get(ep.ip);
    const other = id ? state.endpoints.get(id) : undefined;
    if (!other || other.remote) continue;
    if (keyed(ep.policies, net) || keyed(other.policies, state.networks.get(netId))) {
      throw new SyError('SY_NOT_SUPPORTED', `${ep.ip} is also endpoint "${other.name}"'s on another network of this host: ACLs and OutBoundNAT are keyed by address here, so neither may have them`);
    }
  }
}
