/**
 * A server's span: the slice of desired state its host agent must realise, and nothing more.
 *  - the server itself;
 *  - its NICs: every networkInterface whose `server` refers to it;
 *  - what those reference: the virtual networks of their ipConfigurations' subnets (whole), ACLs
 *    (of an ipConfiguration or of a subnet of those virtual networks), route tables of those subnets,
 *    public IPs bound to their ipConfigurations;
 *  - load balancers with a backend among its NICs or a VIP in those virtual networks (their clients);
 *  - remote endpoints: every ipConfiguration of another NIC in those virtual networks, as the CA→PA
 *    mapping the host programs (its MAC, address, subnet and the provider addresses its server last
 *    reported), so a host knows where its NICs' peers live without reading their NICs.
 * Each member has a fingerprint (a resource's etag; a hash of a remote endpoint's mapping): a host
 * that says what it has receives only what differs. Reads go through the store's back references
 * (NICs of a server, ipConfigurations of a subnet), never a scan of a whole collection.
 */
import { createHash } from 'node:crypto';
import { ownerRef, parseRef } from './check-context.js';
import { etagOf } from './document.js';
import type { ChildDoc, ResourceDoc, StoredRecord } from './kind.js';
import { backrefParts, backrefsTo, backrefsUnder, resourceKey, statusKey } from './keys.js';
import type { KeyValue, Store } from './store/store.js';

/** A resource of the span as the host receives it: the stored document, its etag as fingerprint. */
export interface SpanResource {
  resourceRef: string;
  etag: string;
  resource: ResourceDoc;
}

/** "CA ipAddress with MAC macAddress lives behind providerAddresses", keyed by the ipConfiguration. */
export interface RemoteEndpoint {
  resourceRef: string;
  networkInterface: string;
  macAddress?: string;
  ipAddress?: string;
  subnet: string;
  virtualNetwork: string;
  server?: string;
  /** what the remote NIC's server last reported in its heartbeat; empty until it has */
  providerAddresses: string[];
}

export interface Span {
  server: string;
  resources: Map<string, SpanResource>;
  remotes: Map<string, { etag: string; remoteEndpoint: RemoteEndpoint }>;
  /** servers of the remote endpoints: their heartbeats change the mappings */
  remoteServers: Set<string>;
}

/** The heartbeat fields a server's status holds (see southbound.ts). */
export interface ServerHealth {
  status: string;
  lastHeartbeat: string;
  hostdVersion?: string;
  supportedModes?: string[];
  providerAddresses?: string[];
}

const NICS = '/networkInterfaces/';
const LBS = '/loadBalancers/';

/**
 * The span of server `id` as the store holds it now; undefined when there is no such server. The
 * reads of one step go out together (on etcd each is a round trip to a member).
 */
export async function computeSpan(store: Store, id: string): Promise<Span | undefined> {
  const serverRef = `/servers/${id}`;
  type Read = { kv: KeyValue; rec: StoredRecord };
  const read = async (ref: string): Promise<Read | undefined> => {
    const p = parseRef(ref);
    if (!p) return undefined;
    const kv = await store.get(resourceKey(p.collection, p.id));
    return kv ? { kv, rec: JSON.parse(kv.value) as StoredRecord } : undefined;
  };
  const readAll = async (refs: Iterable<string>): Promise<Read[]> => (await Promise.all([...refs].map(read))).filter((r): r is Read => r !== undefined);
  const sourcesOf = async (prefixes: string[]): Promise<string[]> =>
    (await Promise.all(prefixes.map((p) => store.range(p)))).flatMap((r) => r.kvs.map((kv) => backrefParts(kv.key).source));
  const server = await read(serverRef);
  if (!server) return undefined;
  const span: Span = { server: serverRef, resources: new Map(), remotes: new Map(), remoteServers: new Set() };
  const add = (r: Read) => span.resources.set(r.rec.doc.resourceRef, { resourceRef: r.rec.doc.resourceRef, etag: etagOf(r.kv.modRevision), resource: r.rec.doc });
  add(server);

  // NICs placed here (their `server` reference has the NIC itself as source), and what they refer to
  const nics = await readAll((await sourcesOf([backrefsTo(serverRef)])).filter((s) => s.startsWith(NICS)));
  const wanted = new Set<string>();
  const vnets = new Set<string>();
  for (const nic of nics) {
    add(nic);
    for (const r of nic.rec.refs) {
      const top = ownerRef(r.target);
      if (top?.startsWith('/virtualNetworks/')) vnets.add(top);
      else if (top && top !== serverRef) wanted.add(top);
    }
  }
  // the virtual networks whole, and their subnets' ACLs and route tables
  for (const vnet of await readAll(vnets)) {
    add(vnet);
    for (const r of vnet.rec.refs) {
      const top = ownerRef(r.target);
      if (top) wanted.add(top);
    }
  }
  // load balancers with a backend here (a local ipConfiguration in a pool or an inbound NAT rule)
  const localIpcs = nics.flatMap((n) => ((n.rec.doc.properties.ipConfigurations ?? []) as ChildDoc[]).map((c) => backrefsTo(c.resourceRef)));
  for (const source of await sourcesOf(localIpcs)) if (source.startsWith(LBS)) wanted.add(ownerRef(source)!);

  // every other NIC's ipConfigurations in those virtual networks (the same NIC may be in two)
  const inVnet = new Map<string, Map<string, Set<string>>>();
  for (const vnetRef of vnets) {
    const byNic = new Map<string, Set<string>>();
    inVnet.set(vnetRef, byNic);
    for (const source of await sourcesOf([backrefsUnder(vnetRef)])) {
      const s = parseRef(source);
      // a load balancer with a VIP in this virtual network serves its clients here
      if (s?.collection === 'loadBalancers') wanted.add(`${LBS}${s.id}`);
      if (s?.collection !== 'networkInterfaces' || s.child !== 'ipConfigurations') continue;
      const nicRef = `${NICS}${s.id}`;
      if (!span.resources.has(nicRef)) byNic.set(nicRef, (byNic.get(nicRef) ?? new Set()).add(source));
    }
  }
  const remoteNics = new Map((await readAll(new Set([...inVnet.values()].flatMap((m) => [...m.keys()])))).map((r) => [r.rec.doc.resourceRef, r]));
  const serverOf = (nic: Read) => (nic.rec.doc.properties.server as { resourceRef?: string } | undefined)?.resourceRef;
  const servers = [...new Set([...remoteNics.values()].map(serverOf).filter((x): x is string => x !== undefined))];
  const health = new Map(await Promise.all(servers.map(async (ref) => [ref, await readHealth(store, ref)] as const)));
  for (const ref of servers) span.remoteServers.add(ref);
  for (const [vnetRef, byNic] of inVnet) {
    for (const [nicRef, ipcRefs] of byNic) {
      const nic = remoteNics.get(nicRef);
      if (!nic) continue;
      const remoteServer = serverOf(nic);
      for (const ipc of (nic.rec.doc.properties.ipConfigurations ?? []) as ChildDoc[]) {
        if (!ipcRefs.has(ipc.resourceRef)) continue;
        const remoteEndpoint: RemoteEndpoint = {
          resourceRef: ipc.resourceRef,
          networkInterface: nicRef,
          ...(typeof nic.rec.doc.properties.privateMacAddress === 'string' ? { macAddress: nic.rec.doc.properties.privateMacAddress } : {}),
          ...(typeof ipc.properties.privateIPAddress === 'string' ? { ipAddress: ipc.properties.privateIPAddress } : {}),
          subnet: (ipc.properties.subnet as { resourceRef: string }).resourceRef,
          virtualNetwork: vnetRef,
          ...(remoteServer !== undefined ? { server: remoteServer } : {}),
          providerAddresses: (remoteServer !== undefined ? health.get(remoteServer)?.providerAddresses : undefined) ?? [],
        };
        span.remotes.set(ipc.resourceRef, { etag: fingerprint(remoteEndpoint), remoteEndpoint });
      }
    }
  }
  for (const r of await readAll(wanted)) add(r);
  return span;
}

export async function readHealth(store: Store, serverRef: string): Promise<ServerHealth | undefined> {
  const kv = await store.get(statusKey(serverRef));
  return kv ? (JSON.parse(kv.value) as ServerHealth) : undefined;
}

/** A short, stable digest of a mapping: what a host compares to know whether it changed. */
export function fingerprint(v: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(v)).digest('base64url').slice(0, 22)}"`;
}

/** Every member's fingerprint, as a host keeps it: resourceRef → etag. */
export function fingerprints(span: Span): Map<string, string> {
  const out = new Map<string, string>();
  for (const [ref, r] of span.resources) out.set(ref, r.etag);
  for (const [ref, r] of span.remotes) out.set(ref, r.etag);
  return out;
}

export type SpanChange =
  | { type: 'put'; resourceRef: string; etag: string; resource: ResourceDoc }
  | { type: 'remote'; resourceRef: string; etag: string; remoteEndpoint: RemoteEndpoint }
  | { type: 'delete'; resourceRef: string };

/**
 * What a host that has `have` (ref → etag) must receive to hold `span`: puts of what it lacks or
 * holds at another etag, deletes of what left the span. Deletes come last, so a host never drops
 * something before what replaces it arrived.
 */
export function diffSpan(have: ReadonlyMap<string, string>, span: Span): SpanChange[] {
  const out: SpanChange[] = [];
  for (const [ref, r] of span.resources) if (have.get(ref) !== r.etag) out.push({ type: 'put', ...r });
  for (const [ref, r] of span.remotes) if (have.get(ref) !== r.etag) out.push({ type: 'remote', resourceRef: ref, ...r });
  for (const ref of have.keys()) if (!span.resources.has(ref) && !span.remotes.has(ref)) out.push({ type: 'delete', resourceRef: ref });
  return out;
}

/**
 * Whether a change of `ref` (a resource or a status key's resource) may change `span`: what is in it,
 * a NIC that refers to this server or to a subnet of its virtual networks (now or before), a
 * remote endpoint's server. Anything else leaves the span as it is, and is not recomputed for.
 */
export function mayAffect(span: Span, ref: string, values: (string | undefined)[]): boolean {
  if (span.resources.has(ref) || span.remoteServers.has(ref)) return true;
  if (!ref.startsWith(NICS) && !ref.startsWith(LBS)) return false;
  const mine = [...span.resources.keys()];
  const vnets = mine.filter((r) => r.startsWith('/virtualNetworks/')).map((vn) => `${vn}/subnets/`);
  const nics = mine.filter((r) => r.startsWith(NICS)).map((n) => `${n}/`);
  for (const v of values) {
    if (v === undefined) continue;
    const rec = JSON.parse(v) as StoredRecord;
    for (const r of rec.refs) {
      if (r.target === span.server) return true;
      if (vnets.some((p) => r.target.startsWith(p)) || nics.some((p) => r.target.startsWith(p))) return true;
    }
  }
  return false;
}
