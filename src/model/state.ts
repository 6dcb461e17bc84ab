/**
 * hostd's records in memory: three maps (networks, endpoints, namespaces) that
 *  - freeze what is put in them: a record is never changed in place, a change puts a new object, so
 *    the reconciler can tell what changed by identity;
 *  - remember which ids were put or deleted since the reconciler last looked (`dirty`), so an
 *    incremental pass visits only those;
 *  - keep indexes (by name, by short id, addresses per network, endpoints per namespace and network,
 *    published ports) up to date on every change, so that no request has to walk every record: a
 *    request costs the same on a host with ten endpoints and on one with ten thousand.
 */
import type { EndpointRecord, NamespaceRecord, NetworkRecord, PortMapping } from './records.js';
import { shortId } from './names.js';

type Listener<T> = (before: T | undefined, after: T | undefined) => void;

export class RecordMap<T extends { id: string }> extends Map<string, T> {
  /** ids put or deleted since the last drain */
  readonly dirty = new Set<string>();
  private readonly listeners: Listener<T>[] = [];

  listen(fn: Listener<T>): void {
    this.listeners.push(fn);
  }

  override set(id: string, rec: T): this {
    const before = super.get(id);
    super.set(id, deepFreeze(rec));
    this.dirty.add(id);
    for (const l of this.listeners) l(before, rec);
    return this;
  }

  override delete(id: string): boolean {
    const before = super.get(id);
    if (!super.delete(id)) return false;
    this.dirty.add(id);
    for (const l of this.listeners) l(before, undefined);
    return true;
  }

  override clear(): void {
    for (const id of [...this.keys()]) this.delete(id);
  }

  /** The dirty ids, emptied. */
  drain(): string[] {
    const ids = [...this.dirty];
    this.dirty.clear();
    return ids;
  }
}

function deepFreeze<T>(x: T): T {
  if (x && typeof x === 'object' && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const v of Object.values(x)) deepFreeze(v);
  }
  return x;
}

/** An owner of a published host port, as the port index holds it. */
export interface PortOwner {
  endpointId: string;
  mapping: PortMapping;
}

export class StateIndex {
  readonly networkByName = new Map<string, string>();
  readonly endpointByName = new Map<string, string>();
  /** short id (first 8 hex digits, which name kernel objects) → id, per kind */
  readonly shortIds = { networks: new Map<string, string>(), endpoints: new Map<string, string>(), namespaces: new Map<string, string>() };
  /** network id → endpoint address → endpoint id */
  readonly addresses = new Map<string, Map<string, string>>();
  readonly endpointsByNetwork = new Map<string, Set<string>>();
  readonly endpointsByNamespace = new Map<string, Set<string>>();
  /** namespace path → id, for namespaces not being removed */
  readonly namespaceByPath = new Map<string, string>();
  /** "protocol/port" → owners of that host port (several when bound to different host addresses) */
  readonly ports = new Map<string, PortOwner[]>();
  /** endpoints that have at least one ACL of their own */
  readonly aclEndpoints = new Set<string>();
  /** networks that have NetworkACL rules */
  readonly aclNetworks = new Set<string>();
  /** "network id/next hop address" → endpoints with a route through that next hop */
  readonly routesVia = new Map<string, Set<string>>();

  /** endpoints of uplink networks with an OutBoundNAT policy (translated on a bridged path) */
  readonly bridgedNat = new Set<string>();

  /** Whether any endpoint meets ACL rules (its own or its network's). */
  anyAcl(): boolean {
    return this.aclEndpoints.size > 0 || this.aclNetworks.size > 0;
  }

  /** Whether bridged IPv4 must pass the inet hooks (br_netfilter): for ACLs, and for NAT on a bridged path. */
  bridgeHooks(): boolean {
    return this.anyAcl() || this.bridgedNat.size > 0;
  }

  constructor(state: Pick<HostState, 'networks' | 'endpoints' | 'namespaces'>) {
    state.networks.listen((b, a) => {
      if (b) {
        this.networkByName.delete(b.name);
        this.aclNetworks.delete(b.id);
        this.shortIds.networks.delete(shortId(b.id));
      }
      if (a) {
        this.networkByName.set(a.name, a.id);
        if (a.acls?.length) this.aclNetworks.add(a.id);
        this.shortIds.networks.set(shortId(a.id), a.id);
      }
    });
    state.namespaces.listen((b, a) => {
      if (b) {
        this.shortIds.namespaces.delete(shortId(b.id));
        if (this.namespaceByPath.get(b.path) === b.id) this.namespaceByPath.delete(b.path);
      }
      if (a) {
        this.shortIds.namespaces.set(shortId(a.id), a.id);
        if (!a.deleting) this.namespaceByPath.set(a.path, a.id);
      }
    });
    state.endpoints.listen((b, a) => {
      if (b) {
        this.endpointByName.delete(b.name);
        this.aclEndpoints.delete(b.id);
        this.bridgedNat.delete(b.id);
        for (const r of b.policies.routes) if (r.nextHop) removeFrom(this.routesVia, `${b.networkId}/${r.nextHop}`, b.id);
        this.shortIds.endpoints.delete(shortId(b.id));
        const ips = this.addresses.get(b.networkId);
        ips?.delete(b.ip);
        if (ips && !ips.size) this.addresses.delete(b.networkId);
        removeFrom(this.endpointsByNetwork, b.networkId, b.id);
        if (b.namespaceId) removeFrom(this.endpointsByNamespace, b.namespaceId, b.id);
        for (const m of b.portMappings) {
          for (let i = 0; i < m.count; i++) {
            const key = portKey(m.protocol, m.externalPort + i);
            const left = (this.ports.get(key) ?? []).filter((o) => o.endpointId !== b.id);
            if (left.length) this.ports.set(key, left);
            else this.ports.delete(key);
          }
        }
      }
      if (a) {
        this.endpointByName.set(a.name, a.id);
        if (a.policies.acls.length) this.aclEndpoints.add(a.id);
        if (a.policies.outboundNat && state.networks.get(a.networkId)?.type !== 'NAT') this.bridgedNat.add(a.id);
        for (const r of a.policies.routes) if (r.nextHop) getOr(this.routesVia, `${a.networkId}/${r.nextHop}`, () => new Set()).add(a.id);
        this.shortIds.endpoints.set(shortId(a.id), a.id);
        getOr(this.addresses, a.networkId, () => new Map()).set(a.ip, a.id);
        getOr(this.endpointsByNetwork, a.networkId, () => new Set()).add(a.id);
        if (a.namespaceId) getOr(this.endpointsByNamespace, a.namespaceId, () => new Set()).add(a.id);
        for (const m of a.portMappings) {
          for (let i = 0; i < m.count; i++) getOr(this.ports, portKey(m.protocol, m.externalPort + i), () => []).push({ endpointId: a.id, mapping: m });
        }
      }
    });
  }
}

export function portKey(protocol: number, port: number): string {
  return `${protocol}/${port}`;
}

function getOr<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) m.set(k, (v = make()));
  return v;
}

function removeFrom(m: Map<string, Set<string>>, k: string, id: string): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(id);
  if (!s.size) m.delete(k);
}

export interface HostState {
  networks: RecordMap<NetworkRecord>;
  endpoints: RecordMap<EndpointRecord>;
  namespaces: RecordMap<NamespaceRecord>;
  index: StateIndex;
}

export function emptyState(): HostState {
  const maps = { networks: new RecordMap<NetworkRecord>(), endpoints: new RecordMap<EndpointRecord>(), namespaces: new RecordMap<NamespaceRecord>() };
  return { ...maps, index: new StateIndex(maps) };
}
