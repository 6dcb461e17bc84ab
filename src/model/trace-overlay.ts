/**
 * trace on an overlay network, for what an endpoint sends (its own ACLs have let it go): the host
 * (its gateway answers ICMP only), a peer of the virtual network (on this host, bridged or routed by
 * the distributed gateway; or remote: which PA it is sent to, with which VNI), an address the
 * virtual network does not hold (nothing is flooded), or the world (only with OutBoundNAT).
 */
import { cidrContains, ipToInt, parseCidr } from './ipv4.js';
import { subnetOf } from './overlay.js';
import type { EndpointRecord, NetworkRecord } from './records.js';
import type { HostState } from './state.js';
import type { Decision } from './trace.js';

export interface OverlayStep {
  path: string[];
  nat: string[];
  verdict: 'Allow' | 'Block';
  /** the layer that decided, when not the endpoint's own ACLs */
  decidedBy?: Decision;
  /** the local peer whose In ACLs the packet meets next */
  peer?: EndpointRecord;
}

export function traceOverlayOut(state: HostState, ep: EndpointRecord, net: NetworkRecord, dst: string, protocol: number, hostAddresses: string[]): OverlayStep {
  const o = net.overlay!;
  const mine = subnetOf(net, ep.ip);
  const theirs = subnetOf(net, dst);
  if (o.subnets.some((s) => s.gateway === dst) || hostAddresses.includes(dst)) {
    const path = [`${ep.name} → the host (${dst}), its gateway on "${net.name}"`];
    if (protocol === 1) return { path, nat: [], verdict: 'Allow' };
    return { path, nat: [], verdict: 'Block', decidedBy: { layer: 'HostAccess', reason: `an overlay network's endpoints reach their host by ICMP only (it is their gateway, not their server)` } };
  }
  if (theirs) {
    const id = state.index.addresses.get(net.id)?.get(dst);
    const peer = id ? state.endpoints.get(id) : undefined;
    const how = theirs.prefix === mine?.prefix ? `bridged on "${net.name}"` : `routed by the distributed gateway ${mine?.gateway} on this host into ${theirs.prefix}`;
    if (!peer) {
      return { path: [`${ep.name} → ${dst}: ${how}`], nat: [], verdict: 'Block', decidedBy: { layer: 'Isolation', reason: `no endpoint of VSID ${theirs.vni} has ${dst}: nothing is flooded to other hosts` } };
    }
    if (peer.remote) {
      const pa = peer.policies.providerAddress;
      const path = [`${ep.name} → ${dst}: ${how} to remote endpoint ${peer.name} (${peer.mac})`, `encapsulated in VXLAN VNI ${theirs.vni}: UDP ${o.providerAddress} → ${pa}:${o.port}`];
      return { path, nat: [], verdict: 'Allow' };
    }
    return { path: [`${ep.name} → ${dst}: ${how} to ${peer.name}`], nat: [], verdict: 'Allow', peer };
  }
  const onat = ep.policies.outboundNat;
  const path = [`${ep.name} → ${dst} by its gateway ${mine?.gateway}: out of the virtual network`];
  if (!onat) return { path, nat: [], verdict: 'Block', decidedBy: { layer: 'Isolation', reason: `only endpoints with OutBoundNAT leave an overlay network (no CA is sent on the provider network)` } };
  if (onat.exceptions.some((c) => cidrContains(parseCidr(c), ipToInt(dst)))) {
    return { path, nat: [`none: ${dst} is an OutBoundNAT exception of ${ep.name}`], verdict: 'Block', decidedBy: { layer: 'Isolation', reason: `an untranslated CA never leaves an overlay network` } };
  }
  return { path, nat: [onat.virtualIp ? `SNAT to ${onat.virtualIp} (OutBoundNAT VirtualIP)` : 'masquerade to the host\'s address (OutBoundNAT)'], verdict: 'Allow' };
}
