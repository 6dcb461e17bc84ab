/**
 * What a network mode brings to the plan, behind one interface: adding a mode is adding one planner
 * beside the others (nat.ts, uplink.ts, overlay.ts), while the rest of the plan (namespaces, veths, ACL maps,
 * anti-spoofing, QOS) and the one apply layer stay shared.
 */
import type { EndpointRecord, NetworkRecord, NetworkType } from '../../model/records.js';
import type { NftElement } from '../nft-table.js';
import type { NetworkParts, PortMode } from '../host-plan.js';
import { natMode } from './nat.js';
import { l2BridgeMode, l2TunnelMode, transparentMode } from './uplink.js';
import { overlayMode } from './overlay.js';

export interface ModePlanner {
  /** the network's bridge, its sysctls, its chains and elements in both tables */
  network(net: NetworkRecord): NetworkParts;
  /** how an endpoint's veth sits on the bridge */
  port(net: NetworkRecord): PortMode;
  /** the default route's next hop inside the endpoint at `ip` (none: no default route) */
  gateway(net: NetworkRecord, ip?: string): string | undefined;
  /** elements of the bridge table's sets this mode adds for an attached endpoint */
  endpointBridgeElements(ep: EndpointRecord, net: NetworkRecord): Map<string, NftElement[]>;
}

const MODES: Record<NetworkType, ModePlanner> = {
  NAT: natMode,
  Transparent: transparentMode,
  L2Bridge: l2BridgeMode,
  L2Tunnel: l2TunnelMode,
  Overlay: overlayMode,
};

export function modePlanner(type: NetworkType): ModePlanner {
  const m = MODES[type];
  if (!m) throw new Error(`plan: no planner for network type ${type}`);
  return m;
}
