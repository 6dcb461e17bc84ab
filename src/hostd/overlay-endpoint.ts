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

export function checkOverlayEndpoint(net: NetworkRecord, ep: { id: string; mac: string; remote?: true; policies: EndpointPolicies }, state: HostState): void {
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
  for (const id of state.index.endpointsByNetwork.get(net.id) ?? []) {
    const other = state.endpoints.get(id);
    if (other && other.id !== ep.id && other.mac === ep.mac) {
      throw new SyError('SY_ADDRESS_IN_USE', `MAC ${ep.mac} is already endpoint "${other.name}"'s in VSID ${o.vni}`);
    }
  }
}
