/**
 * Names of the kernel objects Switchyard makes, derived from object ids so that a restart (of hostd,
 * of Docker, of the machine) finds the same objects again. The "sy-" prefix is Switchyard's mark on
 * links: garbage collection only ever touches links that carry it.
 */

export const LINK_PREFIX = 'sy-';
export const BRIDGE_PREFIX = 'sy-br-';
/** The wildcard every network bridge matches in an nft rule. */
export const ANY_BRIDGE = `${BRIDGE_PREFIX}*`;
/**
 * The bridge of a network bound to a host adapter (Transparent, L2Bridge, L2Tunnel): the adapter is
 * its port and the host's addresses live on it while the network exists (Windows' external vSwitch
 * with its host vNIC). Not a NAT bridge: none of the NAT rules that name ANY_BRIDGE concern it.
 */
export const SWITCH_PREFIX = 'sy-sw-';
export const VETH_PREFIX = 'sy-ep-';
/** An overlay network's bridge (its distributed gateway) and its VXLAN device, a port of that bridge. */
export const OVERLAY_PREFIX = 'sy-ov-';
export const VXLAN_PREFIX = 'sy-vx-';
/** a veth taken out of service, waiting for its deletion (see LinuxDataPlane.retireLinks) */
export const RETIRED_PREFIX = 'sy-gc-';
/**
 * the veth a DHCP endpoint leases its address through before it exists (hostd/dhcp-leases.ts): gone
 * when the request ends; one a crash left is removed by the next full pass, as any unwanted owned link
 */
export const LEASE_PORT_PREFIX = 'sy-dh-';
export const NFT_TABLE = 'switchyard';
/** The mark on the routes Switchyard makes inside endpoint namespaces (`proto 83`). */
export const ROUTE_PROTO = 83;
/** The mark on Switchyard's QOS qdiscs: only a qdisc with this handle is ever deleted. */
export const QDISC_HANDLE = '5359:';

/** The 8 hex digits of an id that name its kernel objects; hostd keeps them unique per kind. */
export function shortId(id: string): string {
  return id.replace(/-/g, '').slice(0, 8).toLowerCase();
}

export function bridgeName(networkId: string): string {
  return BRIDGE_PREFIX + shortId(networkId);
}

export function switchName(networkId: string): string {
  return SWITCH_PREFIX + shortId(networkId);
}

export function overlayBridgeName(networkId: string): string {
  return OVERLAY_PREFIX + shortId(networkId);
}

export function vxlanName(networkId: string): string {
  return VXLAN_PREFIX + shortId(networkId);
}

/** Whether `link` is one of the VXLAN ports of the overlay bridge `bridge` (sy-ov-X → sy-vx-X[N]). */
export function isVxlanPortOf(link: string, bridge: string): boolean {
  return bridge.startsWith(OVERLAY_PREFIX) && link.startsWith(VXLAN_PREFIX + bridge.slice(OVERLAY_PREFIX.length));
}

/** The bridge of a network: its own NAT or overlay bridge, or the switch its uplink is a port of. */
export function networkBridge(net: { id: string; type: string }): string {
  return net.type === 'NAT' ? bridgeName(net.id) : net.type === 'Overlay' ? overlayBridgeName(net.id) : switchName(net.id);
}

export function vethName(endpointId: string): string {
  return VETH_PREFIX + shortId(endpointId);
}

export function isOwnedLink(name: string): boolean {
  return [BRIDGE_PREFIX, SWITCH_PREFIX, VETH_PREFIX, RETIRED_PREFIX, OVERLAY_PREFIX, VXLAN_PREFIX, LEASE_PORT_PREFIX].some((p) => name.startsWith(p));
}

/** A MAC for a bridge, stable for the network (locally administered, unicast). */
export function bridgeMac(networkId: string): string {
  const h = shortId(networkId);
  return `02:5b:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}:${h.slice(6, 8)}`;
}

/** A MAC for an endpoint derived from its IPv4 address (unique on the host, like Docker's 02:42:...). */
export function endpointMac(ip: string): string {
  const hex = ip.split('.').map((p) => Number(p).toString(16).padStart(2, '0'));
  return `02:53:${hex.join(':')}`;
}

/** Names users give to networks and endpoints: safe in any command, file name or nft comment. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export const GUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
