/**
 * What hostd stores: its own records of networks, endpoints and namespaces, normalised and resolved
 * (addresses allocated, ephemeral ports chosen). The HCN documents are rendered from them (hcn/render.ts)
 * and the kernel plan is computed from them (plan/). Records are plain JSON so the store can persist
 * them as they are.
 */

/**
 * NAT: a bridge of its own holding the gateway, traffic leaves as the host's (masquerade).
 * The uplink modes bind the network to a host adapter (NetAdapterName), its endpoints on the physical
 * network: Transparent (each endpoint's own MAC on the wire), L2Bridge (the adapter's MAC for every
 * endpoint, rewritten on the way out and back), L2Tunnel (as L2Bridge, and no local switching: every
 * frame goes to the upstream switch, which enforces policy and sends it back). Overlay: a virtual
 * network carried between hosts over VXLAN (model/overlay.ts).
 */
export type NetworkType = 'NAT' | 'Transparent' | 'L2Bridge' | 'L2Tunnel' | 'Overlay';
export const UPLINK_TYPES: readonly NetworkType[] = ['Transparent', 'L2Bridge', 'L2Tunnel'];

/** The host adapter an uplink-mode network is bound to, as it was when the network was made. */
export interface UplinkRecord {
  name: string;
  /** its MAC: the bridge takes it (the host's addresses keep their MAC), L2Bridge/L2Tunnel frames carry it */
  mac: string;
}

export interface DnsSettings {
  domain?: string;
  search: string[];
  servers: string[];
  options: string[];
}

export interface NetworkRecord {
  id: string;
  name: string;
  type: NetworkType;
  /** uplink modes only: the adapter (also kept as the NetAdapterName policy) */
  uplink?: UplinkRecord;
  /**
   * L2Tunnel, upstream role: this host is the upstream switch of tunnelled endpoints on other hosts.
   * Its network is a bridge hostd does not own (its ports face the tunnel hosts, with hairpin on);
   * the endpoints are remote ones (RemoteEndpoint: an address, a MAC, ACLs), whose ACLs apply here
   * to their traffic as it passes the bridge.
   */
  upstream?: { bridge: string };
  /** Overlay only: its VXLAN settings and every subnet of the virtual network (model/overlay.ts) */
  overlay?: OverlayRecord;
  /** IPv4 prefix, canonical, e.g. 172.18.0.0/24 */
  subnet: string;
  gateway: string;
  dns: DnsSettings;
  mtu?: number;
  /**
   * An internal network (Docker's `--internal`): its endpoints reach each other and the host, but
   * nothing is forwarded between its bridge and any other interface, nothing is translated on the
   * way out, no port is published, and its endpoints get no default route.
   */
  internal?: boolean;
  /** the ranges its endpoints take their MACs from (HCN MacPool); absent = MACs from addresses */
  macPool?: MacRange[];
  flags: number;
  /** HCN network policies as given (NetAdapterName: see network-settings.ts); kept and rendered back */
  policies: { Type: string; Settings?: unknown }[];
  /** NetworkACL policies: rules every endpoint of the network meets with its own (model/acl.ts) */
  acls?: AclRule[];
  /** HostAccess policies (Switchyard's): ports the endpoints may open on the host; absent = none */
  hostAccess?: HostAccessRule[];
  /**
   * Transparent with an Ipam of Type DHCP: each endpoint leases its address from a DHCP server on the
   * physical network (hostd/dhcp-leases.ts); `subnet` is then that network's prefix, for the checks.
   */
  dhcp?: true;
  createdAt: string;
}

import type { Lease } from '../dhcp/lease.js';
import type { AclRule } from './acl.js';
import type { EndpointPolicies } from './policies.js';
import type { MacRange } from './network-settings.js';
import type { HostAccessRule } from './host-access.js';
import type { OverlayRecord } from './overlay.js';

export type Protocol = 6 | 17 | 132;

/** A resolved port mapping: host (hostIp?, externalPort..+count) → endpoint (internalPort..+count). */
export interface PortMapping {
  protocol: Protocol;
  internalPort: number;
  externalPort: number;
  count: number;
  /** bound host address; absent = every local address of the host */
  hostIp?: string;
  flags: number;
  /** the caller asked for ExternalPort 0 and Switchyard chose externalPort */
  ephemeral: boolean;
}

export interface EndpointRecord {
  id: string;
  name: string;
  networkId: string;
  /** HCN Flags RemoteEndpoint (1): an endpoint of another host this one enforces policy for */
  remote?: true;
  namespaceId?: string;
  ip: string;
  mac: string;
  ifName: string;
  portMappings: PortMapping[];
  /** ACL, QOS, OutBoundNAT, routes, EncapOverhead */
  policies: EndpointPolicies;
  dns?: DnsSettings;
  /** on a DHCP network: the lease `ip` comes from (its prefix and gateway too), kept to renew and release it */
  dhcp?: Lease;
  createdAt: string;
}

export interface NamespaceRecord {
  id: string;
  /** absolute path of the namespace file, e.g. /run/netns/web */
  path: string;
  /** hostd created it (and removes it); otherwise it was adopted and is never removed */
  owned: boolean;
  /** removal has begun (persisted first, so a crash in the middle is finished on restart) */
  deleting?: boolean;
  /** adopted by an endpoint request (AdoptNamespace, the CNI plugin's): forgotten with its last endpoint */
  autoRelease?: boolean;
  createdAt: string;
}
