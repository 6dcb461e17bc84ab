/**
 * The uplink modes: a network bound to a host adapter (its NetAdapterName), its endpoints on the
 * physical network. The adapter becomes a port of the network's switch bridge (sy-sw-*), which takes
 * the adapter's MAC and, while the network exists, the host's addresses and routes on it (the data
 * plane moves them and gives them back: Windows' external vSwitch with its host vNIC). Endpoints'
 * veths are ports of that bridge too. What differs is what the wire sees:
 *  - Transparent: nothing is rewritten; each endpoint's own MAC and IP are on the wire.
 *  - L2Bridge: what an endpoint sends out of the adapter carries the adapter's MAC (Ethernet source
 *    and the ARP sender, rewritten at the adapter's egress, netdev family), and what comes in for an
 *    endpoint's address gets the endpoint's MAC back before the bridge looks it up (bridge
 *    prerouting): one MAC, N IPs. Endpoints of one host switch
 *    locally.
 *  - L2Tunnel: as L2Bridge, and the endpoints' ports are isolated (they reach only the adapter, never
 *    each other), so every frame goes to the upstream switch, which applies policy and sends it back.
 *    A frame to the adapter's own MAC (a same-host peer's answer carried it) would be taken by the
 *    host's bridge as its own: from an endpoint it is sent to TUNNEL_MAC instead, which no port
 *    knows, so the bridge floods it to the adapter alone, and on the way out it gets the adapter's
 *    MAC again.
 * ACLs, anti-spoofing and QOS are the shared ones: bridged IPv4 passes the inet hooks (br_netfilter)
 * where ACLs or an OutBoundNAT need it.
 */
import type { EndpointRecord, NetworkRecord } from '../../model/records.js';
import { shortId, switchName, VETH_PREFIX } from '../../model/names.js';
import type { NftChain, NftElement } from '../nft-table.js';
import type { NetworkParts } from '../host-plan.js';
import type { ModePlanner } from './mode.js';

/** Where an L2Tunnel endpoint's frame to the adapter's own MAC is sent on the bridge (see above). */
export const TUNNEL_MAC = '02:53:59:54:55:4e';

function uplinkOf(net: NetworkRecord): { name: string; mac: string } {
  if (!net.uplink) throw new Error(`plan: network ${net.id} (${net.type}) has no uplink`);
  return net.uplink;
}

function uplinkNetwork(net: NetworkRecord, rewrite: 'none' | 'mac' | 'tunnel'): NetworkParts {
  const up = uplinkOf(net);
  const br = switchName(net.id);
  const bridgeChains: NftChain[] = [];
  const netdevChains: NftChain[] = [];
  if (rewrite !== 'none') {
    const s = shortId(net.id);
    const fromEp = `iifname "${VETH_PREFIX}*"`;
    bridgeChains.push(
      {
        name: `sw-${s}-in`,
        base: 'type filter hook prerouting priority -300; policy accept;',
        rules: [
          `iifname "${up.name}" ether type ip ether daddr set iifname . ip daddr map @ep_by_ip`,
          `iifname "${up.name}" ether type arp ether daddr set iifname . arp daddr ip map @ep_by_ip`,
          // the adapter's MAC names the network (an adapter serves one); meta ibrname is not in this kernel
          ...(rewrite === 'tunnel' ? [`${fromEp} ether daddr ${up.mac} ether daddr set ${TUNNEL_MAC}`] : []),
        ],
      },
    );
    // What leaves the adapter is rewritten at its egress: a frame the bridge floods (an endpoint's ARP
    // request) is a clone there, which nft can mangle only where the frame starts at its MAC header.
    netdevChains.push({
      name: `up-${s}`,
      base: `type filter hook egress device "${up.name}" priority 0; policy accept;`,
      rules: [
        ...(rewrite === 'tunnel' ? [`ether daddr ${TUNNEL_MAC} ether daddr set ${up.mac}`] : []),
        `ether saddr != ${up.mac} ether type arp arp saddr ether set ${up.mac}`,
        `ether saddr != ${up.mac} ether saddr set ${up.mac}`,
      ],
    });
  }
  return {
    bridge: { name: br, networkId: net.id, mac: up.mac, uplink: up.name, ...(net.mtu ? { mtu: net.mtu } : {}) },
    sysctls: [],
    chains: [],
    elements: new Map(),
    bridgeChains,
    netdevChains,
  };
}

/** L2Bridge and L2Tunnel: an endpoint's address → its MAC, for frames that come in by the adapter. */
function rewrittenEndpoint(ep: EndpointRecord, net: NetworkRecord): Map<string, NftElement[]> {
  return new Map([['ep_by_ip', [{ key: [`"${uplinkOf(net).name}"`, ep.ip], value: ep.mac, comment: `ep ${ep.id}` }]]]);
}

const gateway = (net: NetworkRecord) => net.gateway;

export const transparentMode: ModePlanner = {
  network: (net) => uplinkNetwork(net, 'none'),
  port: () => 'plain',
  gateway,
  endpointBridgeElements: () => new Map(),
};

export const l2BridgeMode: ModePlanner = {
  network: (net) => uplinkNetwork(net, 'mac'),
  port: () => 'plain',
  gateway,
  endpointBridgeElements: rewrittenEndpoint,
};

/**
 * The upstream role of an L2Tunnel network: the bridge is the upstream switch's own, and all this
 * host adds is its remote endpoints' ACLs (shared ACL maps: bridged traffic meets them through
 * br_netfilter).
 */
function upstreamNetwork(net: NetworkRecord): NetworkParts {
  return { bridge: { name: net.upstream!.bridge, networkId: net.id, mac: '', foreign: true }, sysctls: [], chains: [], elements: new Map() };
}

export const l2TunnelMode: ModePlanner = {
  network: (net) => (net.upstream ? upstreamNetwork(net) : uplinkNetwork(net, 'tunnel')),
  port: () => 'isolated',
  gateway,
  endpointBridgeElements: rewrittenEndpoint,
};
