/**
 * The host network service: the one owner of this host's container networking. Every change runs
 * through one queue, so concurrent requests see a consistent state. A change is validated completely,
 * persisted, then applied by the reconciler; if applying fails, the record is removed again and the
 * kernel brought back, so a failed request leaves no trace in the store or the kernel.
 */
import { randomUUID } from 'node:crypto';
import { asSyError, SyError } from '../errors.js';
import { armFaults } from '../faults.js';
import type { DataPlane, ListeningSocket } from '../dataplane/dataplane.js';
import {
  AttachRequest,
  HostComputeEndpoint,
  HostComputeNamespace,
  HostComputeNetwork,
  ModifyRequest,
  parseDoc,
  TraceRequest,
  Policy,
} from '../hcn/schema.js';
import { renderEndpoint, renderNamespace, renderNetwork } from '../hcn/render.js';
import { checkHostAddress, cidrSize, intToIp, ipToInt, parseCidr, type Cidr } from '../model/ipv4.js';
import { endpointMac, GUID_PATTERN, networkBridge, shortId } from '../model/names.js';
import { EPHEMERAL_FIRST, mappingsClash, resolvePortMappings, type PortRequest } from '../model/ports.js';
import { freeMacInPool, isPolicyType, LIVE_NETWORK_POLICIES } from '../model/network-settings.js';
import { modifyHostAccess, parseHostAccessPolicies } from '../model/host-access.js';
import { checkPoliciesFit, emptyPolicies, modifyPolicies, parsePolicies, routeOf, type EndpointPolicies } from '../model/policies.js';
import type { EndpointRecord, NamespaceRecord, NetworkRecord, PortMapping } from '../model/records.js';
import { portKey, type HostState } from '../model/state.js';
import { trace, traceProtocol, type Decision, type TracePacket, type TraceResult } from '../model/trace.js';
import { aclHits, effectiveAcls, modifyNetworkAcls, parseNetworkAcls } from '../model/acl.js';
import { aclMapElements } from '../plan/host-plan.js';
import { checkAclSize } from '../plan/acl-maps.js';
import { elementKey } from '../plan/nft-table.js';
import { DhcpLeases, dhcpHostname, dhcpMac, dnsOfLease } from './dhcp-leases.js';
import { unavailableLeaseExchange, type LeaseExchange } from './lease-exchange.js';
import { checkDhcpRequest, leaseForEndpoint, leaseHostOf, releaseLeases, withDhcpIpam, withLease } from './endpoint-lease.js';
import { Reconciler, type Logger } from './reconciler.js';
import { checkName, networkRecordOf, SUPPORTED_NETWORK_TYPES, takenPrefixes } from './network-request.js';
import type { ModeSupport } from '../dataplane/capabilities.js';
import { parseDns } from '../model/dns.js';
import { Store, type Kind } from './store.js';
import { checkOverlayEndpoint } from './overlay-endpoint.js';
import { subnetOf } from '../model/overlay.js';


export interface HostServiceOptions {
  store: Store;
  dataplane: DataPlane;
  log: Logger;
  /** which network Types this host supports (capabilities.ts); absent = all hostd has */
  modes?: ModeSupport[];
  /** how long an endpoint of a DHCP network waits for a server (ms; default the client's 6 s) */
  dhcpTimeoutMs?: number;
  /** the kernel and wire side of DHCP leases (lease-exchange.ts); absent = DHCP refused */
  dhcp?: LeaseExchange;
}

export class HostService {
  readonly state: HostState;
  readonly reconciler: Reconciler;
  /** the leases of endpoints of DHCP networks (dhcp-leases.ts) */
  readonly leases: DhcpLeases;
  private readonly store: Store;
  private readonly dp: DataPlane;
  /** the data plane, for read-only views (/metrics) */
  get dataplane(): DataPlane {
    return this.dp;
  }
  private readonly log: Logger;
  /** per network Type: supported here, or why not (shown by /status) */
  readonly modes: ModeSupport[];
  private queue: Promise<unknown> = Promise.resolve();
  private portCursor = EPHEMERAL_FIRST;
  private ipCursor = new Map<string, number>();

  constructor(opts: HostServiceOptions) {
    this.store = opts.store;
    this.dp = opts.dataplane;
    this.log = opts.log;
    this.modes = opts.modes ?? SUPPORTED_NETWORK_TYPES.map((Type) => ({ Type, Supported: true }));
    this.state = this.store.load();
    this.reconciler = new Reconciler(this.dp, this.log);
    this.leases = new DhcpLeases(leaseHostOf(this.state, this.store, (fn) => this.serial(fn)), this.log, opts.dhcp ?? unavailableLeaseExchange, opts.dhcpTimeoutMs);
  }

  /** Finishes interrupted removals and makes the kernel match the stored state (start of hostd). */
  async start(): Promise<void> {
    await this.serial(async () => {
      for (const ns of [...this.state.namespaces.values()]) if (ns.deleting) await this.finishNamespaceRemoval(ns);
      // A crash in a network's removal leaves records of its endpoints: the removal is finished.
      // A crash in a create that adopts a namespace may have written the endpoint's record and not
      // the namespace's (they are written side by side): the request failed, so the endpoint goes.
      for (const e of [...this.state.endpoints.values()]) {
        if (this.state.networks.has(e.networkId) && (!e.namespaceId || this.state.namespaces.has(e.namespaceId))) continue;
        await this.store.remove('endpoints', e.id).catch((err: Error) => this.log.warn(err.message));
        this.state.endpoints.delete(e.id);
      }
      // A crash in a request that adopts a namespace (between the namespace's record and the
      // endpoint's), or in one that removes its last endpoint (before it is forgotten), leaves an
      // adopted namespace that holds no endpoint: forget it, as the request would have.
      for (const ns of [...this.state.namespaces.values()]) {
        if (ns.autoRelease && !this.state.index.endpointsByNamespace.get(ns.id)?.size) await this.forgetNamespace(ns);
      }
      // Rules stored before a limit they now exceed are kept, and the endpoint fails closed (the
      // planner gives it only its defaults): say so, once, with what to change.
      for (const e of this.state.endpoints.values()) {
        try {
          checkAclSize(e.ip, this.aclsOf(e));
        } catch (err) {
          this.log.warn(`endpoint ${e.name}: its ACL rules cannot be loaded, so it blocks every new flow until they change: ${(err as Error).message}`);
        }
      }
      // After a crash a veth may exist whose inside was never configured: read both ends once.
      await this.reconciler.reconcile(this.state, true, { checkPeers: true });
      // Leases go on being renewed; one that expired while hostd was away is asked for again.
      for (const e of this.state.endpoints.values()) if (e.dhcp) this.leases.track(e.id, e.dhcp);
    });
    armFaults();
  }

  /** The periodic resync: compares with the kernel and repairs drift. */
  resync(): Promise<unknown> {
    return this.serial(() => this.reconciler.reconcile(this.state, true));
  }

  /** Runs fn after every change queued before it; changes never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /**
   * serial() for requests that choose addresses or host ports: a refused request gives back what it
   * chose, so the next one gets the same address and port (the cursors only move on success).
   */
  private serialKeepingCursors<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(async () => {
      const port = this.portCursor;
      const ips = new Map(this.ipCursor);
      try {
        return await fn();
      } catch (e) {
        this.portCursor = port;
        this.ipCursor = ips;
        throw e;
      }
    });
  }

  // ---- lookups -------------------------------------------------------------------------------

  findNetwork(ref: string): NetworkRecord {
    const n = findByRef(this.state.networks, this.state.index.networkByName, ref);
    if (!n) throw new SyError('SY_NETWORK_NOT_FOUND', `Network "${ref}" not found`);
    return n;
  }

  findEndpoint(ref: string): EndpointRecord {
    const e = findByRef(this.state.endpoints, this.state.index.endpointByName, ref);
    if (!e) throw new SyError('SY_ENDPOINT_NOT_FOUND', `Endpoint "${ref}" not found`);
    return e;
  }

  findNamespace(ref: string): NamespaceRecord {
    const lower = ref.toLowerCase();
    const path = namespacePathOf(ref, false);
    const byId = this.state.namespaces.get(lower);
    const n = byId && !byId.deleting ? byId : path ? this.state.namespaces.get(this.state.index.namespaceByPath.get(path) ?? '') : undefined;
    if (!n) throw new SyError('SY_NAMESPACE_NOT_FOUND', `Namespace "${ref}" not found`);
    return n;
  }

  networkDoc(n: NetworkRecord) {
    return withDhcpIpam(renderNetwork(n, this.reconciler.status.get(n.id)), n);
  }
  endpointDoc(e: EndpointRecord) {
    const status = this.reconciler.status.get(e.id);
    const lost = this.leases.problem(e.id);
    return withLease(renderEndpoint(e, this.state, lost && status?.state !== 'error' ? { state: 'error', reason: lost, code: 'SY_KERNEL' } : status), e);
  }
  /** An endpoint's document with the hits of each ACL rule (its own elements read: for a single endpoint). */
  async endpointDocWithStats(e: EndpointRecord) {
    const doc = this.endpointDoc(e);
    if (!this.aclsOf(e).length) return doc;
    return { ...doc, AclStats: await this.aclStats(e) };
  }

  /** The ACL rules an endpoint meets: its network's and its own. */
  private aclsOf(e: EndpointRecord) {
    return effectiveAcls(e.policies.acls, this.state.networks.get(e.networkId)?.acls);
  }

  /** The hits of an endpoint's ACL rules and defaults, by Id and direction: its elements' counters. */
  private async aclStats(e: EndpointRecord) {
    const acls = this.aclsOf(e);
    const counted = [...aclMapElements(e, acls)].filter(([set]) => set !== 'acl_eps');
    const counters = await this.dp.aclCounters(e.ip, new Map(counted.map(([set, els]) => [set, els.map(elementKey)])));
    return aclHits(acls, counters).map((h) => ({ Id: h.id, Direction: h.direction, Packets: h.packets, Bytes: h.bytes }));
  }

  namespaceDoc(n: NamespaceRecord) {
    return renderNamespace(n, this.state, this.reconciler.status.get(n.id));
  }

  // ---- networks ------------------------------------------------------------------------------

  createNetwork(body: unknown) {
    return this.serial(async () => {
      const doc = parseDoc(HostComputeNetwork, body, 'network');
      const rec = await this.validateNetwork(doc);
      await this.commit('networks', rec, () => this.state.networks.set(rec.id, rec), () => this.state.networks.delete(rec.id), rec.id);
      this.log.info(`network ${rec.name} (${rec.id}) created: ${rec.type} ${rec.subnet}`);
      return this.networkDoc(rec);
    });
  }

  private validateNetwork(doc: HostComputeNetwork): Promise<NetworkRecord> {
    const unsupported = this.modes.find((m) => !m.Supported && m.Type.toLowerCase() === String(doc.Type).toLowerCase() && m.Reason !== 'not in hostd yet');
    if (unsupported) return Promise.reject(new SyError('SY_NOT_SUPPORTED', `Network Type "${unsupported.Type}" is not available on this host: ${unsupported.Reason}`));
    return networkRecordOf(doc, { state: this.state, dp: this.dp, newId: (given) => this.newId(given, 'networks', 'network') });
  }

  /** Prefixes a new subnet must not overlap: other networks and the host's own routes (also for the Docker IPAM). */
  takenPrefixes(): Promise<{ cidr: Cidr; what: string }[]> {
    return takenPrefixes(this.state, this.dp);
  }

  /** Removes a network with its endpoints; with `ifEmpty`, only a network that has none (else SY_IN_USE). */
  deleteNetwork(ref: string, opts: { ifEmpty?: boolean } = {}) {
    return this.serial(async () => {
      const net = this.findNetwork(ref);
      const eps = this.endpointsOf(this.state.index.endpointsByNetwork, net.id);
      if (opts.ifEmpty && eps.length) throw new SyError('SY_IN_USE', `Network "${net.name}" still has ${eps.length} endpoint(s)`);
      // The network's record goes first: once it is gone, the endpoints' records are leftovers that
      // start removes (a crash in between finishes the removal instead of leaving half a network).
      await this.store.remove('networks', net.id);
      for (const e of eps) await this.store.remove('endpoints', e.id).catch((err: Error) => this.log.warn(err.message));
      for (const e of eps) this.state.endpoints.delete(e.id);
      this.state.networks.delete(net.id);
      this.ipCursor.delete(net.id);
      for (const id of [net.id, ...eps.map((e) => e.id)]) this.reconciler.status.delete(id);
      await releaseLeases(this.leases, eps, this.state);
      await this.releaseAutoNamespaces(eps);
      await this.applyAfterRemoval();
      this.log.info(`network ${net.name} (${net.id}) removed with ${eps.length} endpoint(s)`);
    });
  }

  // ---- endpoints -----------------------------------------------------------------------------

  createEndpoint(body: unknown) {
    return this.serialKeepingCursors(async () => {
      const doc = parseDoc(HostComputeEndpoint, body, 'endpoint');
      const net = this.findNetwork(doc.HostComputeNetwork);
      const id = this.newId(doc.ID ?? doc.Id, 'endpoints', 'endpoint');
      const name = doc.Name === undefined || doc.Name === '' ? id : checkName(doc.Name, 'Endpoint name');
      if (this.state.index.endpointByName.has(name)) {
        throw new SyError('SY_DUPLICATE_NAME', `An endpoint named "${name}" already exists`);
      }
      const ns = doc.HostComputeNamespace ? await this.namespaceForEndpoint(doc.HostComputeNamespace, doc.AdoptNamespace === true) : undefined;
      const ifName = checkIfName(doc.InterfaceName ?? 'eth0');
      if (ns) this.checkInterfaceFree(ns, ifName);
      const remote = checkRemote(doc, net);
      if (net.dhcp) checkDhcpRequest(doc, net, ns);
      // On an uplink network the host's own addresses are on the subnet too.
      const hostOwn = net.type === 'NAT' || net.overlay ? new Set<string>() : new Set(await this.dp.localAddresses());
      const ip = this.chooseAddress(net, doc.IpConfigurations, hostOwn);
      // (On a DHCP network `ip` is a stand-in the policies are checked with until the lease is there.)
      const mac = doc.MacAddress ? parseMac(doc.MacAddress) : net.macPool ? this.macFromPool(net) : net.dhcp ? dhcpMac(id) : endpointMac(ip);
      const parsed = parsePolicies(doc.Policies ?? []);
      checkNoDuplicateMappings(parsed.portMappings);
      checkPublishable(net, parsed.portMappings);
      const routes = (doc.Routes ?? []).map((r, i) => routeOf(r as Record<string, unknown>, `Routes[${i}]`));
      const policies = modifyPolicies(emptyPolicies(), 'add', { ...parsed, routes: [...routes, ...parsed.routes] });
      if (remote && !net.overlay) checkRemotePolicies(policies);
      checkOverlayEndpoint(net, { id, ip, mac, ...(remote ? { remote } : {}), policies }, this.state);
      await this.checkPolicies(policies, net, ip);
      const mappings = await this.resolveMappings(parsed.portMappings, undefined);
      const given = parseDns(doc.Dns, 'endpoint Dns');
      const port = net.dhcp && ns ? { endpointId: id, bridge: networkBridge(net), nsPath: ns.path, ifName, mac, ...(dhcpHostname(name) ? { hostname: name } : {}) } : undefined;
      const lease = port ? await leaseForEndpoint(this.leases, port, net, this.state, hostOwn) : undefined;
      const dns = given ?? (lease && dnsOfLease(lease));
      const rec: EndpointRecord = {
        id,
        name,
        networkId: net.id,
        ...(remote ? { remote } : {}),
        ...(ns ? { namespaceId: ns.id } : {}),
        ip: lease?.address ?? ip,
        mac,
        ifName,
        portMappings: mappings,
        policies,
        ...(dns ? { dns } : {}),
        ...(lease ? { dhcp: lease } : {}),
        createdAt: new Date().toISOString(),
      };
      const adopted = ns && !this.state.namespaces.has(ns.id) ? ns : undefined;
      const add = () => {
        if (adopted) this.state.namespaces.set(adopted.id, adopted);
        this.state.endpoints.set(id, rec);
      };
      try {
        const beside = adopted ? { kind: 'namespaces' as const, rec: adopted } : undefined;
        await this.commit('endpoints', rec, add, () => this.state.endpoints.delete(id), id, undefined, beside);
      } catch (e) {
        if (port && lease) await this.leases.releaseThroughPort(port, lease);
        if (adopted) await this.forgetNamespace(adopted).catch((err: Error) => this.log.warn(err.message));
        throw e;
      }
      if (lease) this.leases.track(id, lease);
      this.log.info(`endpoint ${name} (${id}) created on ${net.name}: ${rec.ip}${lease ? ` leased from ${lease.serverId}` : ''}${ns ? ` in ${ns.path}` : ''}`);
      return this.endpointDoc(rec);
    });
  }

  deleteEndpoint(ref: string) {
    return this.serial(async () => {
      const ep = this.findEndpoint(ref);
      await this.store.remove('endpoints', ep.id);
      this.state.endpoints.delete(ep.id);
      this.reconciler.status.delete(ep.id);
      await releaseLeases(this.leases, [ep], this.state);
      await this.releaseAutoNamespaces([ep]);
      await this.applyAfterRemoval();
      this.log.info(`endpoint ${ep.name} (${ep.id}) removed`);
    });
  }

  attachEndpoint(ref: string, body: unknown) {
    return this.serial(async () => {
      const req = parseDoc(AttachRequest, body, 'attach request');
      const ep = this.findEndpoint(ref);
      if (ep.remote) throw new SyError('SY_NOT_SUPPORTED', `Endpoint "${ep.name}" is a remote endpoint (it lives on another host): it is never attached here`);
      if (ep.dhcp) throw new SyError('SY_NOT_SUPPORTED', `Endpoint "${ep.name}" leased its address by DHCP in its namespace; it stays there until it is deleted`);
      const ns = await this.namespaceForEndpoint(req.NamespaceId, req.AdoptNamespace === true);
      if (ep.namespaceId === ns.id) return this.endpointDoc(ep);
      if (ep.namespaceId) throw new SyError('SY_IN_USE', `Endpoint "${ep.name}" is attached to another namespace; detach it first`);
      const ifName = req.InterfaceName === undefined ? ep.ifName : checkIfName(req.InterfaceName);
      this.checkInterfaceFree(ns, ifName);
      const adopted = !this.state.namespaces.has(ns.id) ? ns : undefined;
      if (adopted) {
        await this.store.put('namespaces', adopted);
        this.state.namespaces.set(adopted.id, adopted);
      }
      try {
        return await this.replaceEndpoint(ep, { ...ep, namespaceId: ns.id, ifName });
      } catch (e) {
        if (adopted) await this.forgetNamespace(adopted).catch((err: Error) => this.log.warn(err.message));
        throw e;
      }
    });
  }

  detachEndpoint(ref: string) {
    return this.serial(async () => {
      const ep = this.findEndpoint(ref);
      if (!ep.namespaceId) return this.endpointDoc(ep);
      if (ep.dhcp) throw new SyError('SY_NOT_SUPPORTED', `Endpoint "${ep.name}" leased its address by DHCP in its namespace; delete it instead of detaching it`);
      const { namespaceId: _gone, ...rest } = ep;
      const doc = await this.replaceEndpoint(ep, rest);
      await this.releaseAutoNamespaces([ep]);
      return doc;
    });
  }

  /**
   * PATCH of a network: HCN modify requests on its NetworkACL rules and HostAccess policies, applied
   * to all its endpoints at once (Update replaces the policies of each Type the request holds).
   */
  modifyNetwork(ref: string, body: unknown) {
    return this.serial(async () => {
      const net = this.findNetwork(ref);
      const { kind, docs } = parseModify(body, 'network');
      const other = docs.findIndex((d) => !LIVE_NETWORK_POLICIES.some((t) => isPolicyType(d, t)));
      if (other >= 0) throw new SyError('SY_NOT_SUPPORTED', `Settings.Policies[${other}]: "${docs[other]!.Type}" cannot be changed on a network; ${LIVE_NETWORK_POLICIES.join(' and ')} can`);
      // Update replaces only the Types the request holds.
      const touches = (t: string) => kind !== 'update' || docs.some((d) => isPolicyType(d, t));
      const reqAcls = parseNetworkAcls(docs, 'Settings.Policies');
      const reqAccess = parseHostAccessPolicies(docs, 'Settings.Policies');
      const acls = touches('NetworkACL') ? modifyNetworkAcls(net.acls ?? [], kind, reqAcls) : (net.acls ?? []);
      const access = touches('HostAccess') ? modifyHostAccess(net.hostAccess ?? [], kind, reqAccess) : (net.hostAccess ?? []);
      const { acls: _a, hostAccess: _h, ...rest } = net;
      const next: NetworkRecord = { ...rest, ...(acls.length ? { acls } : {}), ...(access.length ? { hostAccess: access } : {}) };
      for (const ep of this.endpointsOf(this.state.index.endpointsByNetwork, net.id)) {
        checkAclSize(ep.ip, effectiveAcls(ep.policies.acls, next.acls));
        checkOverlayEndpoint(next, ep, this.state);
      }
      await this.replace('networks', this.state.networks, net, next);
      this.log.info(`network ${net.name}: policies ${kind}: ${acls.length} NetworkACL rule(s), ${access.length} HostAccess policies now`);
      return this.networkDoc(next);
    });
  }

  /** HCN modify request on an endpoint: Add, Remove or Update its policies. */
  modifyEndpoint(ref: string, body: unknown) {
    return this.serialKeepingCursors(async () => {
      const ep = this.findEndpoint(ref);
      const { kind, docs } = parseModify(body, 'endpoint');
      const parsed = parsePolicies(docs, 'Settings.Policies');
      checkNoDuplicateMappings(parsed.portMappings);
      if (kind !== 'remove') checkPublishable(this.findNetwork(ep.networkId), parsed.portMappings);
      // Everything is checked before anything changes: one request is one transaction.
      const policies = modifyPolicies(ep.policies, kind, parsed);
      const net = this.findNetwork(ep.networkId);
      if (ep.remote && !net.overlay) checkRemotePolicies(policies);
      checkOverlayEndpoint(net, { ...ep, policies }, this.state);
      await this.checkPolicies(policies, net, ep.ip);
      const requests = parsed.portMappings;
      let next = ep.portMappings;
      if (kind === 'add') {
        next = [...ep.portMappings, ...(await this.resolveMappings(requests, ep.id))];
      } else if (kind === 'remove') {
        const missing = requests.find((r) => !ep.portMappings.some((m) => sameMapping(m, r)));
        if (missing) throw new SyError('SY_NOT_FOUND', `Endpoint "${ep.name}" has no port mapping ${missing.externalPort}->${missing.internalPort}`);
        next = ep.portMappings.filter((m) => !requests.some((r) => sameMapping(m, r)));
      } else if (parsed.types.has('PortMapping')) {
        next = await this.resolveMappings(requests, ep.id, true);
      }
      return this.replaceEndpoint(ep, { ...ep, portMappings: next, policies });
    });
  }

  // ---- trace ---------------------------------------------------------------------------------

  /**
   * What happens to one packet of a new flow at an endpoint, and why (model/trace.ts). With Probe,
   * the packet is also sent for real and the answer checked against the kernel's rule counters.
   */
  async trace(body: unknown) {
    const req = parseDoc(TraceRequest, body, 'trace request');
    const ep = this.findEndpoint(req.Endpoint);
    const packet: TracePacket = {
      direction: req.Direction,
      protocol: traceProtocol(req.Protocol),
      remoteAddress: req.RemoteAddress,
      ...(req.RemotePort ? { remotePort: req.RemotePort } : {}),
      ...(req.LocalPort ? { localPort: req.LocalPort } : {}),
      ...(req.HostPort ? { hostPort: req.HostPort } : {}),
    };
    if (packet.hostPort && packet.direction !== 'In') throw new SyError('SY_BAD_REQUEST', 'HostPort is for Direction In (a packet that came to a published port)');
    const locals = await this.dp.localAddresses();
    const result = trace(this.state, ep, packet, locals);
    const doc = {
      Endpoint: ep.name,
      Packet: { Direction: packet.direction, Protocol: packet.protocol, RemoteAddress: packet.remoteAddress, RemotePort: packet.remotePort, LocalPort: packet.localPort, HostPort: packet.hostPort },
      Verdict: result.verdict,
      DecidedBy: decisionDoc(result.decidedBy),
      Path: result.path,
      Nat: result.nat,
      AclLayers: result.acls.map(decisionDoc),
    };
    if (!req.Probe) return doc;
    return { ...doc, Probe: await this.probe(ep, packet, result, locals) };
  }

  private async probe(ep: EndpointRecord, p: TracePacket, result: TraceResult, locals: string[]) {
    if (p.protocol !== 6 && p.protocol !== 17) throw new SyError('SY_BAD_REQUEST', 'Probe sends TCP or UDP only');
    const ns = ep.namespaceId ? this.state.namespaces.get(ep.namespaceId) : undefined;
    if (!ns) throw new SyError('SY_BAD_REQUEST', `Probe needs ${ep.name} attached to a namespace`);
    const port = p.direction === 'Out' ? p.remotePort : (p.hostPort ?? p.localPort);
    if (!port) throw new SyError('SY_BAD_REQUEST', `Probe needs ${p.direction === 'Out' ? 'RemotePort' : 'LocalPort or HostPort'}`);
    if (p.direction === 'In' && !locals.includes(p.remoteAddress) && this.state.networks.get(ep.networkId)?.gateway !== p.remoteAddress) {
      throw new SyError('SY_BAD_REQUEST', `Probe In is sent from the host: RemoteAddress must be one of its addresses (${locals.join(', ')}) or the gateway`);
    }
    // The counters of every endpoint whose ACLs the packet meets, before and after.
    const names = [...new Set(result.acls.map((a) => a.endpoint).filter((n): n is string => !!n))];
    const read = async () => {
      const out = new Map<string, number>();
      for (const n of names) for (const s of await this.aclStats(this.findEndpoint(n))) out.set(`${n}/${s.Direction}/${s.Id}`, s.Packets);
      return out;
    };
    const before = await read();
    if (p.direction === 'Out') {
      await this.dp.sendProbe({ netnsPath: ns.path, protocol: p.protocol, dst: p.remoteAddress, dport: port, ...(p.localPort ? { sport: p.localPort } : {}) });
    } else {
      const dport = p.hostPort ?? port;
      const bound = p.hostPort ? ep.portMappings.find((m) => m.protocol === p.protocol && dport >= m.externalPort && dport < m.externalPort + m.count)?.hostIp : undefined;
      const dst = p.hostPort ? (bound ?? locals.find((a) => !a.startsWith('127.')) ?? '127.0.0.1') : ep.ip;
      await this.dp.sendProbe({ protocol: p.protocol, source: p.remoteAddress, dst, dport, ...(p.remotePort ? { sport: p.remotePort } : {}) });
    }
    const after = await read();
    const hits = [...after].filter(([k, v]) => v > (before.get(k) ?? 0)).map(([k, v]) => ({ Rule: k, Packets: v - (before.get(k) ?? 0) }));
    const d = result.decidedBy;
    const key = d.layer === 'ACL' ? `${d.endpoint}/${d.direction}/${d.id}` : d.layer === 'Default' ? `${d.endpoint}/${d.direction}/default` : undefined;
    return {
      Sent: true,
      Hits: hits,
      Confirmed: key ? hits.some((h) => h.Rule === key) : null,
      Note: key ? `the kernel counted the packet on ${key}: ${hits.some((h) => h.Rule === key) ? 'as traced' : 'NOT as traced'}` : 'no ACL counter decides this packet; nothing to compare',
    };
  }

  // ---- namespaces ----------------------------------------------------------------------------

  createNamespace(body: unknown) {
    return this.serial(async () => {
      const doc = parseDoc(HostComputeNamespace, body ?? {}, 'namespace');
      const id = this.newId(doc.ID ?? doc.Id, 'namespaces', 'namespace');
      const path = doc.Path ? namespacePathOf(doc.Path, true)! : `/run/netns/sy-${shortId(id)}`;
      const existing = this.state.namespaces.get(this.state.index.namespaceByPath.get(path) ?? '');
      if (existing) throw new SyError('SY_DUPLICATE_NAME', `Namespace "${path}" is already known as ${existing.id}`);
      const exists = await this.dp.namespaceExists(path);
      if (!exists && !path.startsWith('/run/netns/')) {
        throw new SyError('SY_NAMESPACE_NOT_FOUND', `Network namespace "${path}" does not exist (only names under /run/netns are created)`);
      }
      const rec: NamespaceRecord = { id, path, owned: !exists, createdAt: new Date().toISOString() };
      await this.commit('namespaces', rec, () => this.state.namespaces.set(id, rec), () => this.state.namespaces.delete(id), id, async () => {
        await this.dp.deleteNamespace(rec.path, rec.owned);
      });
      return this.namespaceDoc(rec);
    });
  }

  deleteNamespace(ref: string) {
    return this.serial(async () => {
      const ns = this.findNamespace(ref);
      const eps = this.endpointsOf(this.state.index.endpointsByNamespace, ns.id);
      if (eps.length) {
        throw new SyError('SY_IN_USE', `Namespace "${ns.path}" still holds endpoint(s) ${eps.map((e) => `"${e.name}"`).join(', ')}; remove or detach them first`);
      }
      const marked = { ...ns, deleting: true };
      await this.store.put('namespaces', marked);
      this.state.namespaces.set(ns.id, marked);
      await this.finishNamespaceRemoval(marked);
    });
  }

  /**
   * The namespace an endpoint request names: a known one, or with AdoptNamespace an existing
   * namespace file not known yet, as a new adopted record the caller stores with the endpoint.
   */
  private async namespaceForEndpoint(ref: string, adopt: boolean): Promise<NamespaceRecord> {
    try {
      return this.findNamespace(ref);
    } catch (e) {
      if (!adopt || !(e instanceof SyError) || e.code !== 'SY_NAMESPACE_NOT_FOUND') throw e;
    }
    const path = namespacePathOf(ref, true)!;
    if (!(await this.dp.namespaceExists(path))) throw new SyError('SY_NAMESPACE_NOT_FOUND', `Network namespace "${path}" does not exist (AdoptNamespace never creates one)`);
    const id = this.newId(undefined, 'namespaces', 'namespace');
    return { id, path, owned: false, autoRelease: true, createdAt: new Date().toISOString() };
  }

  /** Forgets the auto-adopted namespaces of `removed` endpoints that hold no endpoint any more. */
  private async releaseAutoNamespaces(removed: EndpointRecord[]): Promise<void> {
    for (const nsId of new Set(removed.map((e) => e.namespaceId))) {
      const ns = nsId ? this.state.namespaces.get(nsId) : undefined;
      if (!ns?.autoRelease || this.endpointsOf(this.state.index.endpointsByNamespace, ns.id).length) continue;
      await this.forgetNamespace(ns);
    }
  }

  /** Removes the record of an adopted namespace (the namespace itself is not hostd's to remove). */
  private async forgetNamespace(ns: NamespaceRecord): Promise<void> {
    await this.dp.deleteNamespace(ns.path, false);
    await this.store.remove('namespaces', ns.id);
    this.state.namespaces.delete(ns.id);
    this.reconciler.status.delete(ns.id);
  }

  private async finishNamespaceRemoval(ns: NamespaceRecord): Promise<void> {
    await this.dp.deleteNamespace(ns.path, ns.owned);
    await this.store.remove('namespaces', ns.id);
    this.state.namespaces.delete(ns.id);
    this.reconciler.status.delete(ns.id);
  }

  // ---- the commit protocol -------------------------------------------------------------------

  /**
   * Persists a new record, applies it, and undoes both if the kernel refuses: the request then fails
   * with the kernel's error and nothing of it remains. `beside` is a new record the first refers to
   * (the namespace an endpoint request adopts), written at the same time rather than before it: a
   * crash between the two leaves one of them alone, which start() removes (an endpoint naming no
   * known namespace, an adopted namespace holding no endpoint). The caller forgets `beside` when
   * this throws.
   */
  private async commit(
    kind: Kind,
    rec: { id: string },
    add: () => void,
    drop: () => void,
    id: string,
    undoKernel?: () => Promise<void>,
    beside?: { kind: Kind; rec: { id: string } },
  ): Promise<void> {
    const saved = await Promise.allSettled([this.store.put(kind, rec), ...(beside ? [this.store.put(beside.kind, beside.rec)] : [])]);
    const failed = saved.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      if (saved[0]!.status === 'fulfilled') await this.store.remove(kind, id).catch((e: Error) => this.log.warn(e.message));
      throw failed.reason;
    }
    add();
    await this.applyOrRollback(id, async () => {
      drop();
      this.reconciler.status.delete(id);
      await this.store.remove(kind, id).catch((e: Error) => this.log.warn(e.message));
      if (undoKernel) await undoKernel().catch((e: Error) => this.log.warn(e.message));
    });
  }

  /** Replaces an endpoint's record (attach, detach, policy change), restoring the old one on failure. */
  private async replaceEndpoint(old: EndpointRecord, next: EndpointRecord) {
    await this.replace('endpoints', this.state.endpoints, old, next);
    return this.endpointDoc(next);
  }

  /** Stores and applies `next` in place of `old`; if the kernel refuses it, puts `old` back in both. */
  private async replace<R extends { id: string }>(kind: Kind, records: Map<string, R>, old: R, next: R) {
    const status = this.reconciler.status.get(old.id);
    await this.store.put(kind, next);
    records.set(next.id, next);
    await this.applyOrRollback(next.id, async () => {
      records.set(old.id, old);
      // The full pass that follows sets the status of what it applies; a detached endpoint has
      // nothing in it to set, so it gets back the status it had (not the refused change's error).
      if (status) this.reconciler.status.set(old.id, status);
      else this.reconciler.status.delete(old.id);
      await this.store.put(kind, old).catch((e: Error) => this.log.warn(e.message));
    });
  }

  /**
   * Applies the change just recorded. If the kernel refuses the object `id` (or the ruleset), runs
   * `rollback` to restore the records, brings the kernel back to them with a full pass, and throws
   * the kernel's error.
   */
  private async applyOrRollback(id: string, rollback: () => Promise<void>): Promise<void> {
    const errors = await this.reconciler.reconcile(this.state, false).catch((e: unknown) => new Map([['links', asSyError(e)]]));
    const err = errors.get(id) ?? errors.get('nft') ?? errors.get('links');
    if (!err) return;
    await rollback();
    this.reconciler.invalidate();
    await this.reconciler.reconcile(this.state, true).catch((e: Error) => this.log.warn(e.message));
    throw err;
  }

  /**
   * After a removal the record is gone already: the removal goes forward, never back. If the kernel
   * refused the removal (the links or the ruleset), a full pass tries again at once; what still
   * fails is left to the resync. (Other objects' errors, e.g. a vanished namespace, are not retried.)
   */
  private async applyAfterRemoval(): Promise<void> {
    let errors = await this.reconciler.reconcile(this.state, false);
    if (errors.has('links') || errors.has('nft')) errors = await this.reconciler.reconcile(this.state, true);
    if (errors.size) this.log.warn('cleanup after a removal is incomplete; the periodic resync will retry');
  }

  // ---- helpers -------------------------------------------------------------------------------

  private newId(given: string | undefined, kind: Kind, what: string): string {
    const taken = this.state.index.shortIds[kind];
    if (given !== undefined && given !== '') {
      if (!GUID_PATTERN.test(given)) throw new SyError('SY_BAD_REQUEST', `${what} ID "${given}" is not a GUID`);
      const id = given.toLowerCase();
      if (this.state[kind].has(id)) throw new SyError('SY_DUPLICATE_ID', `A ${what} with ID ${id} already exists`);
      if (taken.has(shortId(id))) {
        throw new SyError('SY_DUPLICATE_ID', `${what} ID ${id} begins like another ${what}'s; its first 8 digits name kernel objects and must be unique`);
      }
      return id;
    }
    for (;;) {
      const id = randomUUID();
      if (!taken.has(shortId(id))) return id;
    }
  }

  /** Policies that need the network and the host: next hops on the subnet, a VIP of this host. */
  /** Refuses policies that do not fit the endpoint at `ip` on `net` (nothing is changed yet). */
  private async checkPolicies(p: EndpointPolicies, net: NetworkRecord, ip: string): Promise<void> {
    const locals = p.outboundNat?.virtualIp ? await this.dp.localAddresses() : [];
    checkPoliciesFit(p, parseCidr(subnetOf(net, ip)?.prefix ?? net.subnet), () => locals);
    checkAclSize(ip, effectiveAcls(p.acls, net.acls));
  }

  /** The endpoints an index lists under `key`, in id order. */
  private endpointsOf(index: Map<string, Set<string>>, key: string): EndpointRecord[] {
    return [...(index.get(key) ?? [])].sort().map((id) => this.state.endpoints.get(id)!);
  }

  private checkInterfaceFree(ns: NamespaceRecord, ifName: string): void {
    const other = this.endpointsOf(this.state.index.endpointsByNamespace, ns.id).find((e) => e.ifName === ifName);
    if (other) throw new SyError('SY_IN_USE', `Namespace "${ns.path}" already has ${ifName} from endpoint "${other.name}"; give InterfaceName`);
  }

  /** The first MAC of the network's pool that none of its endpoints has. */
  private macFromPool(net: NetworkRecord): string {
    const used = new Set(this.endpointsOf(this.state.index.endpointsByNetwork, net.id).map((e) => e.mac));
    const mac = freeMacInPool(net.macPool ?? [], used);
    if (!mac) throw new SyError('SY_MAC_POOL_FULL', `No free MAC left in the MacPool of network "${net.name}"`);
    return mac;
  }

  private chooseAddress(net: NetworkRecord, configs: HostComputeEndpoint['IpConfigurations'], hostOwn: Set<string>): string {
    const cidr = parseCidr(net.subnet);
    const used = this.state.index.addresses.get(net.id) ?? new Map<string, string>();
    const asked = configs?.find((c) => c.IpAddress)?.IpAddress;
    if (asked) {
      // An overlay network's endpoint may be on any of its subnets.
      const sub = subnetOf(net, asked);
      checkHostAddress(asked, sub ? parseCidr(sub.prefix) : cidr, 'IpAddress');
      if (asked === (sub?.gateway ?? net.gateway)) throw new SyError('SY_ADDRESS_IN_USE', `${asked} is the gateway of network "${net.name}"`);
      if (used.has(asked)) throw new SyError('SY_ADDRESS_IN_USE', `${asked} is already used by another endpoint on "${net.name}"`);
      if (hostOwn.has(asked)) throw new SyError('SY_ADDRESS_IN_USE', `${asked} is an address of this host`);
      return asked;
    }
    const size = cidrSize(cidr);
    const gw = ipToInt(net.gateway);
    const start = this.ipCursor.get(net.id) ?? 1;
    for (let i = 0; i < size - 2; i++) {
      const off = ((start - 1 + i) % (size - 2)) + 1;
      const ip = cidr.base + off;
      if (ip === gw) continue;
      const s = intToIp(ip);
      if (!used.has(s) && !hostOwn.has(s)) {
        this.ipCursor.set(net.id, (off % (size - 2)) + 1);
        return s;
      }
    }
    throw new SyError('SY_SUBNET_FULL', `No free address left in ${net.subnet} of network "${net.name}"`);
  }

  private async resolveMappings(requests: PortRequest[], self: string | undefined, replaceSelf = false): Promise<PortMapping[]> {
    if (!requests.length) return [];
    const exclude = replaceSelf ? self : undefined;
    const published = (c: PortRequest): PortRequest | undefined => {
      for (let p = c.externalPort; p < c.externalPort + c.count; p++) {
        for (const o of this.state.index.ports.get(portKey(c.protocol, p)) ?? []) {
          if (o.endpointId !== exclude && mappingsClash(o.mapping, c)) return o.mapping;
        }
      }
      return undefined;
    };
    if (requests.some((r) => r.hostIp)) {
      const locals = new Set(await this.dp.localAddresses());
      for (const r of requests) {
        if (r.hostIp && !locals.has(r.hostIp)) throw new SyError('SY_INVALID_POLICY', `VIP ${r.hostIp} is not an address of this host`);
      }
    }
    // Choose ports, then ask the kernel whether a process holds one of them; if so, choose again
    // knowing that (our own DNAT-only mappings hold no socket, so they never show up here).
    const held: ListeningSocket[] = [];
    for (;;) {
      const { mappings, cursor } = resolvePortMappings(requests, published, held, this.portCursor);
      const found = await this.dp.portsInUse(mappings);
      if (!found.length) {
        this.portCursor = cursor;
        return mappings;
      }
      held.push(...found);
    }
  }
}

function findByRef<T extends { id: string; name: string }>(m: Map<string, T>, byName: Map<string, string>, ref: string): T | undefined {
  return m.get(ref.toLowerCase()) ?? m.get(byName.get(ref) ?? '');
}

function checkIfName(ifName: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(ifName)) throw new SyError('SY_INVALID_NAME', `InterfaceName "${ifName}" is not a valid interface name`);
  return ifName;
}

function parseMac(s: string): string {
  const m = /^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}$/.exec(s);
  if (!m) throw new SyError('SY_BAD_REQUEST', `MacAddress "${s}" is not a MAC address`);
  const mac = s.replace(/-/g, ':').toLowerCase();
  if (parseInt(mac.slice(0, 2), 16) & 1) throw new SyError('SY_BAD_REQUEST', `MacAddress "${s}" is a multicast address`);
  return mac;
}

function checkNoDuplicateMappings(out: PortRequest[]): void {
  for (let i = 0; i < out.length; i++) {
    for (let j = i + 1; j < out.length; j++) {
      if (out[i]!.externalPort && out[j]!.externalPort && mappingsClash(out[i]!, out[j]!)) {
        throw new SyError('SY_PORT_IN_USE', `Policies[${j}] publishes host port ${out[j]!.externalPort} twice`);
      }
    }
  }
}

/**
 * Port mappings are a NAT network's (as in HNS): an uplink network's endpoints are on the wire with
 * their own addresses. An internal network publishes nothing: its endpoints are not to be reached
 * from outside it.
 */
function checkPublishable(net: NetworkRecord, mappings: PortRequest[]): void {
  if (net.type !== 'NAT' && mappings.length) {
    throw new SyError('SY_NOT_SUPPORTED', `Network "${net.name}" is ${net.type}: its endpoints are reached at their own addresses, so PortMapping (a NAT feature) does not apply`);
  }
  if (net.internal && mappings.length) {
    throw new SyError('SY_NOT_SUPPORTED', `Network "${net.name}" is internal: its endpoints cannot publish ports (PortMapping)`);
  }
}

/**
 * HCN Flags of an endpoint request: RemoteEndpoint (1) is an endpoint of another host whose policy
 * this host enforces (the tunnelled endpoints an L2Tunnel upstream holds), or that this host reaches
 * through VXLAN (an Overlay network's endpoints on other hosts).
 */
function checkRemote(doc: HostComputeEndpoint, net: NetworkRecord): true | undefined {
  if (doc.Flags && doc.Flags !== 1) throw new SyError('SY_NOT_SUPPORTED', `Endpoint Flags ${doc.Flags} are not supported; RemoteEndpoint (1) is`);
  if (!doc.Flags) {
    if (net.upstream) throw new SyError('SY_NOT_SUPPORTED', `Network "${net.name}" is the upstream of endpoints on other hosts: its endpoints are remote ones (Flags 1, RemoteEndpoint)`);
    return undefined;
  }
  if (!net.upstream && !net.overlay) {
    throw new SyError('SY_NOT_SUPPORTED', `A remote endpoint (Flags 1) belongs on an Overlay network or the upstream of an L2Tunnel network (its UpstreamSwitch policy); "${net.name}" is ${net.type}`);
  }
  if (doc.HostComputeNamespace) throw new SyError('SY_BAD_REQUEST', 'A remote endpoint lives on another host: it takes no HostComputeNamespace');
  if (!doc.IpConfigurations?.some((c) => c.IpAddress)) throw new SyError('SY_BAD_REQUEST', 'A remote endpoint needs its IpConfigurations[0].IpAddress (the address it has on its own host)');
  return true;
}

/** What an upstream enforces for a remote endpoint: its ACLs; anything else is its own host's. */
function checkRemotePolicies(p: EndpointPolicies): void {
  const other = p.qos ? 'QOS' : p.outboundNat ? 'OutBoundNAT' : p.routes.length ? 'SDNRoute' : p.encapOverhead !== undefined ? 'EncapOverhead' : undefined;
  if (other) throw new SyError('SY_NOT_SUPPORTED', `A remote endpoint takes ACL policies only (its own host applies ${other})`);
}

function sameMapping(m: PortMapping, r: PortRequest): boolean {
  return (
    m.protocol === r.protocol &&
    m.internalPort === r.internalPort &&
    (r.externalPort === 0 || m.externalPort === r.externalPort) &&
    (m.hostIp ?? '') === (r.hostIp ?? '')
  );
}

/**
 * A namespace reference as a path: absolute paths as they are, bare names under /run/netns.
 * Only characters that are safe as one token of an `ip -batch` line and an nsenter argument pass.
 */
export function namespacePathOf(ref: string, strict: boolean): string | undefined {
  const path = ref.startsWith('/') ? ref : `/run/netns/${ref}`;
  // no part may start with "-": a name under /run/netns becomes an argument of ip (ip -n NAME, ip netns add NAME)
  const ok = /^\/[A-Za-z0-9_.:@/-]{1,1000}$/.test(path) && !path.split('/').some((p) => p === '..' || p.startsWith('-')) && !path.endsWith('/');
  if (ok) return path;
  if (strict) throw new SyError('SY_INVALID_NAME', `Namespace path ${JSON.stringify(ref)} is not valid: use a name or an absolute path of letters, digits and _.:@/-`);
  return undefined;
}

function decisionDoc(d: Decision) {
  return {
    Layer: d.layer,
    ...(d.endpoint ? { Endpoint: d.endpoint } : {}),
    ...(d.direction ? { Direction: d.direction } : {}),
    ...(d.id ? { Id: d.id } : {}),
    ...(d.priority !== undefined ? { Priority: d.priority } : {}),
    ...(d.action ? { Action: d.action } : {}),
    Reason: d.reason,
  };
}

/** An HCN modify request on the policies of an endpoint or a network: its kind and policy documents. */
function parseModify(body: unknown, what: string): { kind: 'add' | 'remove' | 'update'; docs: Policy[] } {
  const req = parseDoc(ModifyRequest, body, 'modify request');
  if (req.ResourceType.toLowerCase() !== 'policy') {
    throw new SyError('SY_NOT_SUPPORTED', `ResourceType "${req.ResourceType}" cannot be modified on ${what === 'endpoint' ? 'an' : 'a'} ${what}; use Policy`);
  }
  const settings = req.Settings as { Policies?: unknown } | undefined;
  if (!settings || !Array.isArray(settings.Policies)) throw new SyError('SY_BAD_REQUEST', 'Modify request Settings must hold Policies: [...]');
  if (settings.Policies.length > 1024) throw new SyError('SY_BAD_REQUEST', 'Modify request: more than 1024 policies');
  const docs = settings.Policies.map((p, i) => parseDoc(Policy, p, `Settings.Policies[${i}]`));
  const kind = req.RequestType.toLowerCase();
  if (kind !== 'add' && kind !== 'remove' && kind !== 'update') {
    throw new SyError('SY_BAD_REQUEST', `RequestType "${req.RequestType}" is not one of Add, Remove, Update`);
  }
  return { kind, docs };
}
