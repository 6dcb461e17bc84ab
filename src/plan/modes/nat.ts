/**
 * NAT mode: a bridge of the network's own holding the gateway address, a veth per endpoint, and
 * the table's NAT-side rules (see plan/host-plan.ts for the table they fill):
 *  - isolation: traffic into a NAT network's bridge passes only if it comes from the same network,
 *    or from outside the networks (the host, other machines) as part of an established flow or
 *    DNATed by a port mapping; another network's bridge never comes in. Outbound traffic of a NAT
 *    subnet leaving through any non-Switchyard interface is masqueraded to the host's address;
 *  - host access: new flows from endpoints to the host itself are dropped but for what
 *    model/host-access.ts opens (the host-in chain);
 *  - an internal network forwards nothing beyond its own bridge (checked first in forward, so not
 *    even a published port of another network is reached through the host), translates nothing and
 *    gives its endpoints no default route; a network with a NetAdapterName leaves the host by that
 *    interface only (the host's routes still choose the way: what they send elsewhere is refused).
 */
import type { NetworkRecord } from '../../model/records.js';
import { ANY_BRIDGE, bridgeMac, bridgeName, shortId } from '../../model/names.js';
import { dnsOnGateway, hostAccessRanges } from '../../model/host-access.js';
import { outboundInterface } from '../../model/network-settings.js';
import type { NftChain, NftElement } from '../nft-table.js';
import type { BridgePlan, NetworkParts } from '../host-plan.js';
import type { ModePlanner } from './mode.js';

export const natMode: ModePlanner = {
  network,
  // With br_netfilter on, a port mapping DNATed to the sender itself is bridged back out of the
  // port it came in: hairpin lets the frame go back (Docker does the same without userland-proxy).
  port: () => 'hairpin',
  gateway: (net) => (net.internal ? undefined : net.gateway),
  endpointBridgeElements: () => new Map(),
};

function network(net: NetworkRecord): NetworkParts {
  const bridge = natBridge(net);
  const br = `"${bridge.name}"`;
  const comment = `net ${net.id}`;
  const elements = new Map<string, NftElement[]>([
    ['fwd_into_net', [{ key: [br], value: `jump ${netChain(net, 'in')}` }]],
    ['net_gateway', [{ key: [br, net.gateway], comment }]],
  ]);
  if (dnsOnGateway(net)) elements.set('gateway_dns', [{ key: [br, net.gateway], comment }]);
  const open = hostAccessRanges(net.hostAccess ?? []);
  if (open.length) elements.set('host_access', open.map((o) => ({ key: [br, o.protocol, o.ports], comment })));
  const chains: NftChain[] = [
    {
      // Another network's bridge never comes in, not even through a port mapping's DNAT (an
      // endpoint of another network at a published port of this one): only the host, the outside
      // and this network's own endpoints (hairpin) reach published ports.
      name: netChain(net, 'in'),
      rules: [
        `iifname ${br} accept`,
        `iifname "${ANY_BRIDGE}" counter drop comment "isolation of net ${net.id} from other networks"`,
        'ct state established,related accept',
        'ct status dnat accept',
        `counter drop comment "isolation of net ${net.id}"`,
      ],
    },
  ];
  const way = outboundInterface(net);
  if (net.internal || way) {
    elements.set('fwd_from_net', [{ key: [br], value: `jump ${netChain(net, 'out')}` }]);
    const reject = 'counter reject with icmpx type admin-prohibited';
    chains.push({
      name: netChain(net, 'out'),
      rules: net.internal
        ? [`oifname ${br} return`, `${reject} comment "internal net ${net.id}"`]
        : [
            // other networks decide in their own chains; replies go back the way their flow came in
            `oifname "${ANY_BRIDGE}" return`,
            `oifname "${way}" return`,
            'ct direction reply return',
            `${reject} comment "net ${net.id} leaves by ${way} only"`,
          ],
    });
  }
  if (!net.internal) {
    elements.set('nat_subnets', [{ key: [net.subnet], comment }]);
    elements.set('post_into_net', [{ key: [br], value: `jump ${netChain(net, 'post')}` }]);
    chains.push({
      name: netChain(net, 'post'),
      rules: [
        `ip saddr ${net.subnet} ct status dnat masquerade comment "hairpin"`,
        'ip saddr 127.0.0.0/8 masquerade comment "host localhost to a published port"',
      ],
    });
  }
  return { bridge, sysctls: [{ key: `net/ipv4/conf/${bridge.name}/route_localnet`, value: '1' }], chains, elements };
}

function natBridge(net: NetworkRecord): BridgePlan {
  return {
    name: bridgeName(net.id),
    networkId: net.id,
    mac: bridgeMac(net.id),
    address: `${net.gateway}/${net.subnet.split('/')[1]!}`,
    ...(net.mtu ? { mtu: net.mtu } : {}),
  };
}

function netChain(n: NetworkRecord, kind: 'in' | 'out' | 'post'): string {
  return `net-${shortId(n.id)}-${kind}`;
}
