/**
 * Overlay mode: a virtual network (one VSID) carried between hosts over VXLAN.
 *  - a bridge `sy-ov-<id>` per virtual network holds every subnet's gateway with the DR MAC: the same
 *    address and MAC on every host (distributed gateway), so routing between subnets of the network
 *    happens on the host where the packet starts;
 *  - its VXLAN devices `sy-vx-<id>[N]`, one per VSID of its subnets (id VNI, local PA, dstport VxlanPort, nolearning, proxy; no remote,
 *    no group: nothing is flooded, nothing is multicast), ports of the bridge with learning,
 *    unicast/multicast/broadcast flooding off and neigh_suppress on, so ARP for a remote endpoint is
 *    answered on the host from the bridge's permanent neighbour entries (plan/remote-entries.ts);
 *  - the subnets are routed in a table of the network's own (table and mark OVERLAY_TABLE_BASE +
 *    VNI), chosen by `iif <bridge>` for what its endpoints send and by the connection's mark for the
 *    replies of what they send out translated (OutBoundNAT): two tenants with the same CA subnet on
 *    one host never share a route (the kernel here has no VRF);
 *  - the host is their gateway and nothing more (no host service is reached from a tenant);
 *  - forwarding: within the bridge (between its subnets) always; to any other Switchyard network
 *    never; out of the host only from endpoints with OutBoundNAT (masqueraded to the host's address),
 *    so no CA leaves on the underlay untranslated.
 */
import type { EndpointRecord, NetworkRecord } from '../../model/records.js';
import { LINK_PREFIX, overlayBridgeName, shortId } from '../../model/names.js';
import { overlayVxlans, subnetOf, VXLAN_OVERHEAD } from '../../model/overlay.js';
import type { NftChain, NftElement } from '../nft-table.js';
import type { NetworkParts } from '../host-plan.js';
import type { ModePlanner } from './mode.js';

/** Routing table and mark of an overlay network: this base plus its VNI (below 2^24), never 253-255. */
export const OVERLAY_TABLE_BASE = 0x53000000;
/** The preference of the rules that choose an overlay network's table (before main's 32766). */
export const OVERLAY_RULE_PREF = 5359;

/** The overlay parts of a bridge plan: what the data plane builds besides the bridge itself. */
export interface OverlayBridgePlan {
  /** a VXLAN device per VSID of its subnets */
  vxlans: { name: string; vni: number }[];
  /** the host's provider address, the outer source */
  local: string;
  port: number;
  /** routing table and mark */
  table: number;
  /** the gateways with their prefix lengths, e.g. 10.1.0.1/24 (no prefix route: they go in `table`) */
  addresses: string[];
  /** the subnets routed in `table` through the bridge */
  subnets: string[];
}

function overlayOf(net: NetworkRecord) {
  if (!net.overlay) throw new Error(`plan: network ${net.id} (${net.type}) has no overlay settings`);
  return net.overlay;
}

/** The MTU of the virtual network's links: the underlay's (the network's MTU, else its PA link's at create) less VXLAN's. */
export function overlayLinkMtu(net: NetworkRecord): number {
  return (net.mtu ?? 1500) - VXLAN_OVERHEAD;
}

function network(net: NetworkRecord): NetworkParts {
  const o = overlayOf(net);
  const name = overlayBridgeName(net.id);
  const table = OVERLAY_TABLE_BASE + o.vni;
  const mark = `0x${table.toString(16)}`;
  const s = shortId(net.id);
  const br = `"${name}"`;
  const comment = `net ${net.id}`;
  const chains: NftChain[] = [
    {
      // Before routing: what comes from the network carries its mark (with fwmark_reflect the host's
      // own answers to it, ICMP errors and echo replies, are routed back by the network's table, not
      // by main's default route onto the underlay); a new flow's connection keeps it, and a reply
      // (de-NATed by then: OutBoundNAT's conntrack restores the CA at the nat hook) takes it again.
      name: `ov-${s}-mark`,
      base: 'type filter hook prerouting priority mangle; policy accept;',
      rules: [`iifname ${br} meta mark set ${mark}`, `iifname ${br} ct state new ct mark set ${mark}`, `ct direction reply ct mark ${mark} meta mark set ${mark}`],
    },
    {
      // A tenant's endpoints meet the host only as their gateway: ping, the ICMP errors of their
      // flows and the answers of flows the host began; no service of the host (of the provider
      // network) is theirs to reach, at the gateway or at any other host address.
      name: `ov-${s}-host`,
      base: 'type filter hook input priority filter; policy accept;',
      rules: [
        `iifname != ${br} accept`,
        'ct state established,related accept',
        'icmp type { echo-request, destination-unreachable, time-exceeded, parameter-problem } accept',
        `counter drop comment "overlay net ${net.id}: no host access"`,
      ],
    },
    {
      name: `net-${s}-in`,
      rules: [`iifname ${br} accept`, 'ct state established,related accept', `counter drop comment "isolation of overlay net ${net.id}"`],
    },
    {
      name: `net-${s}-out`,
      rules: [
        `oifname ${br} return`,
        `oifname "${LINK_PREFIX}*" counter drop comment "overlay net ${net.id} reaches no other network"`,
        'ct direction reply return',
        // an OutBoundNAT exception is not translated, and an untranslated CA does not leave
        `ip saddr . ip daddr @nat_except counter reject with icmpx type admin-prohibited comment "overlay net ${net.id}: untranslated"`,
        'ip saddr @onat_eps return',
        `counter reject with icmpx type admin-prohibited comment "overlay net ${net.id}: only OutBoundNAT endpoints leave it"`,
      ],
    },
  ];
  const elements = new Map<string, NftElement[]>([
    ['fwd_into_net', [{ key: [br], value: `jump net-${s}-in`, comment }]],
    ['fwd_from_net', [{ key: [br], value: `jump net-${s}-out`, comment }]],
  ]);
  const mtu = overlayLinkMtu(net);
  return {
    bridge: {
      name,
      networkId: net.id,
      mac: o.drMac,
      mtu,
      overlay: {
        vxlans: overlayVxlans(net),
        local: o.providerAddress,
        port: o.port,
        table,
        addresses: o.subnets.map((x) => `${x.gateway}/${x.prefix.split('/')[1]!}`),
        subnets: o.subnets.map((x) => x.prefix),
      },
    },
    // The routes back to the endpoints are in the network's table: a strict reverse-path check (on
    // this bridge if `all` asks for it, whatever the bridge's own rp_filter) finds them only when it
    // looks up with the packet's mark (src_valid_mark).
    // fwmark_reflect / tcp_fwmark_accept: see the mark chain above (host-wide, and not set back, as
    // forwarding is not; they change nothing for unmarked packets).
    sysctls: [
      { key: `net/ipv4/conf/${name}/rp_filter`, value: '0' },
      { key: `net/ipv4/conf/${name}/src_valid_mark`, value: '1' },
      { key: 'net/ipv4/fwmark_reflect', value: '1' },
      { key: 'net/ipv4/tcp_fwmark_accept', value: '1' },
    ],
    chains,
    elements,
  };
}

export const overlayMode: ModePlanner = {
  network,
  port: () => 'plain',
  gateway: (net: NetworkRecord, ip?: string) => (ip ? subnetOf(net, ip)?.gateway : net.gateway),
  endpointBridgeElements: (_ep: EndpointRecord) => new Map(),
};
