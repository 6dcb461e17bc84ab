/**
 * The kernel capabilities hostd needs, as one interface with two implementations side by side:
 * LinuxDataPlane (the real kernel, through run()) and FakeDataPlane (in memory, for planner and
 * reconciler tests without root). Every verb is idempotent: ensure* tolerates "exists", delete*
 * tolerates "not found".
 */
import type { BridgePlan, NamespacePlan, Sysctl, VethPlan, VethSettings } from '../plan/host-plan.js';
import type { NftTable } from '../plan/nft-table.js';
import type { ListeningSocket, PortRequest } from '../model/ports.js';
import type { AdapterState } from './uplink.js';
import type { RemoteEntry } from '../plan/remote-entries.js';

export interface LinkState {
  name: string;
  kind: string;
  master?: string;
  up: boolean;
  mac?: string;
  addresses: string[];
  mtu?: number;
  /** kind of the root qdisc (tbf, noqueue, ...) */
  qdisc?: string;
}

/** What the container side of a veth looks like, read from inside its namespace. */
export interface PeerState {
  exists: boolean;
  up: boolean;
  mac?: string;
  addresses: string[];
  defaultGateway?: string;
  mtu?: number;
  /** kind of the root qdisc (tbf, noqueue, ...) */
  qdisc?: string;
  /** the routes Switchyard made on it (with its mark), as planned routes */
  routes?: VethSettings['routes'];
}

export type { ListeningSocket } from '../model/ports.js';

/**
 * The counter of one element of an ACL map: `owner` is the first part of its key (the endpoint's
 * address), `comment` what it counts ("acl ID", or "default in" / "default out"). A rule made of
 * several elements has several counters, to be added up.
 */
export interface ElementCounter {
  set: string;
  owner: string;
  comment: string;
  packets: number;
  bytes: number;
}

export interface LinkStats {
  name: string;
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

export interface DataPlane {
  /** Links in hostd's namespace whose names carry Switchyard's mark. */
  listOwnedLinks(): Promise<LinkState[]>;
  /** Creates the bridge (with its address, MAC, MTU) if missing, fixes its address, brings it up. */
  ensureBridge(b: BridgePlan, existing: LinkState | undefined): Promise<void>;
  /** Creates the veth pair with its peer configured inside the namespace. Fails if the host side exists. */
  createVeth(v: VethPlan): Promise<void>;
  /** Applies a veth's settings (routes, QOS) in place, from `before` to `v.settings`. */
  updateVeth(v: VethPlan, before: VethSettings): Promise<void>;
  /** Reads the namespace side of a veth (for resync after a restart). */
  readPeer(v: VethPlan): Promise<PeerState>;
  /**
   * Deletes links by name in one batch; names that do not exist are ignored. Never overtakes a
   * retirement: what retireLinks deletes in the background is gone first.
   */
  deleteLinks(names: string[]): Promise<void>;
  /**
   * Takes veths out of service at once (down, and renamed so that their names are free again) and
   * deletes them in the background; names that do not exist are ignored.
   */
  retireLinks(names: string[]): Promise<void>;
  /**
   * Makes the tables match `desired` in one nft transaction: reads the kernel's tables first and
   * repairs any drift (the full pass).
   */
  applyNft(desired: NftTable[]): Promise<void>;
  /**
   * Changes one part of the tables in one nft transaction, leaving the rest alone (the incremental
   * pass): `before[i]` is that part of table i as applied, `after[i]` as wanted (see patchTable).
   */
  applyNftChange(before: NftTable[], after: NftTable[]): Promise<void>;
  /**
   * Like applyNftChange, for removals that may wait because what they remove can no longer match a
   * packet (the elements of a retired veth): applied with the next nft change, or on their own soon
   * after. Every later nft call applies them before its own change.
   */
  applyNftChangeLater(before: NftTable[], after: NftTable[]): Promise<void>;
  /** Every counted element of the ACL maps (one read, for /metrics). */
  allAclCounters(): Promise<ElementCounter[]>;
  /** Traffic counters of Switchyard's links (host side), for /metrics. */
  linkStats(): Promise<LinkStats[]>;
  /**
   * The counters of one endpoint's ACL elements: `elements` maps each ACL map to the keys the
   * planner gave the endpoint (`owner`, its address, is the first part of each); a key the kernel
   * does not hold is left out.
   */
  aclCounters(owner: string, elements: Map<string, string[]>): Promise<ElementCounter[]>;
  /**
   * Sends one packet for real (a TCP SYN or a UDP datagram) from namespace `netnsPath` (hostd's own
   * when absent), from `source` when given, to dst:dport, for `trace --probe`.
   */
  sendProbe(p: { netnsPath?: string; protocol: 6 | 17; source?: string; dst: string; dport: number; sport?: number }): Promise<void>;
  /** Removes Switchyard's tables (the teardown of a host with no networks left). */
  deleteNft(tables: { family: string; name: string }[]): Promise<void>;
  setSysctls(s: Sysctl[]): Promise<void>;
  namespaceExists(path: string): Promise<boolean>;
  /** Creates a named namespace under /run/netns if missing (and writes its resolv.conf). */
  ensureNamespace(n: NamespacePlan): Promise<void>;
  /** Removes a named namespace hostd created (and its /etc/netns directory); missing is fine. */
  deleteNamespace(path: string, owned: boolean): Promise<void>;
  /** Accepts Switchyard's bridges in iptables FORWARD where someone (Docker) set its policy to DROP. */
  ensureIptablesForwardAccept(wanted: boolean): Promise<void>;
  /**
   * Of these host ports, those that a socket in hostd's namespace holds (a published port must not
   * shadow a listening process). One entry per held port.
   */
  portsInUse(requests: PortRequest[]): Promise<ListeningSocket[]>;
  /** A host adapter as it is now (for the uplink modes' checks), undefined when there is none. */
  adapter(name: string): Promise<AdapterState | undefined>;
  /** Removes the rules of overlay routing tables that are none of `keep` (the full pass's GC). */
  pruneOverlayRules(keep: number[]): Promise<void>;
  /** The overlay remote endpoints' FDB and neighbour entries the kernel holds on these devices. */
  listRemoteEntries(devices: { bridge: string; vxlans: string[] }[]): Promise<RemoteEntry[]>;
  /** Removes entries (gone ones are fine), then writes entries (replacing what their keys hold). */
  applyRemoteEntries(remove: RemoteEntry[], write: RemoteEntry[]): Promise<void>;
  /** Names of the links in hostd's namespace (a network's NetAdapterName must name one of them). */
  hostLinkNames(): Promise<string[]>;
  /** The link that holds IPv4 address `ip` in hostd's namespace, with its MTU (an overlay's underlay). */
  addressLink(ip: string): Promise<{ name: string; mtu: number } | undefined>;
  /** IPv4 addresses configured in hostd's namespace (host-IP binding must name one of them). */
  localAddresses(): Promise<string[]>;
  /** IPv4 routes in hostd's namespace not made by Switchyard ("dst/len dev"), for overlap checks. */
  foreignRoutes(): Promise<{ dst: string; dev: string }[]>;
}
