/**
 * The reconciler makes the kernel match hostd's records. Two speeds:
 *  - full (at start and on the periodic resync): plans the whole host (pure), compares with what the
 *    kernel really holds and repairs drift (a veth deleted, a rule flushed, a table dropped), and
 *    removes marked objects that no record wants any more (after a crash in the middle of a delete);
 *  - incremental (after each API change): finds the records that changed since the last pass (records
 *    are immutable: a change replaces the object, so identity tells), plans only those, and sends only
 *    their difference: one veth and one nft transaction for an endpoint create, whatever the size of
 *    the host. Planning, diffing and applying cost the same with ten endpoints and with ten thousand.
 * In both, namespaces come first, then two strands side by side: links (stale ones out, bridges with
 * their sysctls, veths) and the ruleset (host sysctls, nftables, the iptables accept that coexistence
 * with Docker needs). The ruleset names interfaces, not their indexes, so it need not wait for links.
 * Failures are per object: one endpoint whose namespace vanished does not stop the others; its status
 * says why, and the next pass tries it again.
 */
import type { DataPlane, LinkState, PeerState } from '../dataplane/dataplane.js';
import type { EndpointRecord, NamespaceRecord, NetworkRecord } from '../model/records.js';
import type { HostState } from '../model/state.js';
import {
  assembleBridgeTable,
  assembleNetdevTable,
  assembleTable,
  hasAcls,
  hostSysctls,
  namespaceOf,
  nftBridgeBase,
  planEndpointParts,
  planHost,
  planNamespace,
  planNetworkParts,
  routedVia,
  type EndpointParts,
  type NamespacePlan,
  type NetworkParts,
  type VethPlan,
  type VethSettings,
} from '../plan/host-plan.js';
import { asSyError, SyError } from '../errors.js';
import { entriesChange, entryText, type RemoteEntry } from '../plan/remote-entries.js';
import { isVxlanPortOf, OVERLAY_PREFIX } from '../model/names.js';
import { faultStep } from '../faults.js';

export interface ObjectStatus {
  state: 'ok' | 'error';
  reason?: string;
  code?: string;
}

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface ReconcileOptions {
  /**
   * Full pass only: also read each veth's container side (one process per endpoint). Needed at start,
   * where a crash may have left a veth whose inside was never configured; the periodic resync checks
   * the host side only (it runs every few seconds on hosts with thousands of endpoints).
   */
  checkPeers?: boolean;
}

/** What the last passes applied, per object; `ok` false = the kernel refused it, try it again. */
interface AppliedNetwork {
  rec: NetworkRecord;
  parts: NetworkParts;
  ok: boolean;
}
interface AppliedEndpoint {
  rec: EndpointRecord;
  net?: NetworkRecord;
  ns?: NamespaceRecord;
  parts: EndpointParts;
}
interface Applied {
  networks: Map<string, AppliedNetwork>;
  endpoints: Map<string, AppliedEndpoint>;
  namespaces: Map<string, { rec: NamespaceRecord; plan: string }>;
  /** ids whose last apply failed: the next incremental pass tries them again */
  failedEndpoints: Set<string>;
  failedNamespaces: Set<string>;
  anyNetwork: boolean;
  anyAcl: boolean;
}

type Fail = (id: string, err: unknown) => void;

export class Reconciler {
  /** per object id (network, endpoint, namespace): the outcome of the last pass that touched it */
  readonly status = new Map<string, ObjectStatus>();
  /** null = unknown (start, or after a failure): the next pass is a full one */
  private applied: Applied | null = null;
  passes = 0;

  constructor(
    private readonly dp: DataPlane,
    private readonly log: Logger,
  ) {}

  /** Forget what was applied: the next pass reads the kernel (used after a failure). */
  invalidate(): void {
    this.applied = null;
  }

  /**
   * Applies `state` to the kernel. Returns the errors of this pass by object id ('nft' for the
   * ruleset); the same are kept in `status`.
   */
  async reconcile(state: HostState, full: boolean, opts: ReconcileOptions = {}): Promise<Map<string, SyError>> {
    this.passes++;
    const errors = new Map<string, SyError>();
    const fail: Fail = (id, err) => {
      const e = asSyError(err);
      errors.set(id, e);
      this.status.set(id, { state: 'error', reason: e.message, code: e.code });
    };
    try {
      // A network the kernel refused is retried by a full pass: its bridge may be half made.
      const a = this.applied;
      if (full || !a || [...a.networks.values()].some((n) => !n.ok)) await this.fullPass(state, fail, opts.checkPeers ?? false);
      else await this.incrementalPass(state, a, fail);
    } catch (err) {
      this.applied = null;
      throw err;
    }
    // What a failed ruleset or link step left behind is unknown: the next pass reads the kernel.
    if (errors.has('nft') || errors.has('links')) this.applied = null;
    if (errors.size) this.log.warn(`reconcile: ${errors.size} object(s) failed: ${[...errors.values()].map((e) => e.message).join('; ')}`);
    faultStep('reconcile: pass done');
    return errors;
  }

  // ---- full ----------------------------------------------------------------------------------

  private async fullPass(state: HostState, fail: Fail, checkPeers: boolean): Promise<void> {
    for (const m of [state.networks, state.endpoints, state.namespaces]) m.drain();
    const plan = planHost(state);
    const nsFailed = await this.ensureNamespaces(plan.namespaces, fail);
    const ruleset = async () => {
      try {
        await this.dp.setSysctls(hostSysctls(plan.bridges.length > 0, state.index.bridgeHooks()));
        if (plan.bridges.length) await this.dp.applyNft([plan.nft, plan.nftBridge, plan.nftNetdev]);
        else await this.dp.deleteNft([plan.nft, plan.nftBridge, plan.nftNetdev]);
        await this.dp.ensureIptablesForwardAccept(plan.iptablesForwardAccept);
        this.status.set('nft', { state: 'ok' });
      } catch (err) {
        fail('nft', err);
      }
    };
    const links = () => this.guard('links', fail, async () => {
      const kernel = new Map((await this.dp.listOwnedLinks()).map((l) => [l.name, l]));
      const wanted = new Set([...plan.bridges.flatMap((b) => [b.name, ...(b.overlay?.vxlans.map((v) => v.name) ?? [])]), ...plan.veths.map((v) => v.name)]);
      const stale = [...kernel.keys()].filter((n) => !wanted.has(n));
      if (stale.length) await this.dp.deleteLinks(stale);
      await this.dp.pruneOverlayRules(plan.bridges.flatMap((b) => (b.overlay ? [b.overlay.table] : [])));
      const broken = new Set<string>();
      for (const net of state.networks.values()) {
        const parts = planNetworkParts(net);
        if (!(await this.ensureBridge(parts, kernel.get(parts.bridge.name), fail))) broken.add(parts.bridge.name);
      }
      await forEachLimit(plan.veths, 4, (v) => this.ensureVeth(v, broken, nsFailed, fail, kernel.get(v.name) ?? null, checkPeers));
      // Overlay remote endpoints: the entries on their networks' devices, compared with the kernel's.
      const devices = plan.bridges.flatMap((b) => (b.overlay && !broken.has(b.name) ? [{ bridge: b.name, vxlans: b.overlay.vxlans.map((v) => v.name) }] : []));
      if (devices.length) {
        const ok = new Set(devices.flatMap((d) => [d.bridge, ...d.vxlans]));
        const { remove, write } = entriesChange(await this.dp.listRemoteEntries(devices), plan.remotes.filter((e) => ok.has(e.dev)));
        await this.applyRemotes(state, remove, write, fail);
      }
    });
    await Promise.all([links(), ruleset()]);

    // Remember every object as planned; those the kernel refused are tried again by the next pass.
    const bad = (id: string) => this.status.get(id)?.state === 'error';
    const applied: Applied = {
      networks: new Map(),
      endpoints: new Map(),
      namespaces: new Map(),
      failedEndpoints: new Set([...state.endpoints.keys()].filter(bad)),
      failedNamespaces: new Set(plan.namespaces.map((p) => p.id).filter(bad)),
      anyNetwork: state.networks.size > 0,
      anyAcl: state.index.bridgeHooks(),
    };
    for (const net of state.networks.values()) applied.networks.set(net.id, { rec: net, parts: planNetworkParts(net), ok: !bad(net.id) });
    for (const ep of state.endpoints.values()) {
      const net = state.networks.get(ep.networkId);
      const ns = namespaceOf(ep, state);
      applied.endpoints.set(ep.id, { rec: ep, net, ns, parts: planEndpointParts(ep, net, ns, routedVia(ep, state)) });
    }
    for (const p of plan.namespaces) {
      applied.namespaces.set(p.id, { rec: state.namespaces.get(p.id)!, plan: JSON.stringify(p) });
    }
    this.applied = applied;
  }

  // ---- incremental ---------------------------------------------------------------------------

  private async incrementalPass(state: HostState, a: Applied, fail: Fail): Promise<void> {
    // What changed: the ids put or deleted since the last pass (the maps keep them), the endpoints
    // of a network or namespace whose record was replaced, and what the kernel refused last time.
    const netIds = state.networks.drain();
    const epIds = new Set([...state.endpoints.drain(), ...a.failedEndpoints]);
    const nsIds = new Set([...state.namespaces.drain(), ...a.failedNamespaces]);
    for (const id of netIds) {
      if (a.networks.has(id) && state.networks.has(id)) for (const e of state.index.endpointsByNetwork.get(id) ?? []) epIds.add(e);
    }
    for (const id of nsIds) {
      if (a.namespaces.has(id) && state.namespaces.has(id)) for (const e of state.index.endpointsByNamespace.get(id) ?? []) epIds.add(e);
    }

    const nets: { id: string; old?: AppliedNetwork; rec?: NetworkRecord }[] = [];
    for (const id of netIds) {
      const old = a.networks.get(id);
      const rec = state.networks.get(id);
      if ((old || rec) && old?.rec !== rec) nets.push({ id, old, rec });
    }
    // A router endpoint's allowed sources depend on the routes others send through it: when an
    // endpoint's routes change, the endpoints at their next hops (old and new) are planned again.
    const routers = new Set<string>();
    for (const id of [...epIds]) {
      const hops = [a.endpoints.get(id)?.rec, state.endpoints.get(id)].flatMap((r) => (r ? r.policies.routes.flatMap((x) => (x.nextHop ? [[r.networkId, x.nextHop] as const] : [])) : []));
      for (const [netId, hop] of hops) {
        const at = state.index.addresses.get(netId)?.get(hop);
        if (at && !epIds.has(at)) routers.add(at);
      }
    }
    // `oldOk`: what was applied for it took (an endpoint the kernel refused is tried again whole).
    const eps: { id: string; old?: AppliedEndpoint; oldOk: boolean; rec?: EndpointRecord; net?: NetworkRecord; ns?: NamespaceRecord }[] = [];
    for (const id of [...epIds, ...routers]) {
      const old = a.endpoints.get(id);
      const oldOk = !!old && !a.failedEndpoints.has(id);
      const rec = state.endpoints.get(id);
      const net = rec && state.networks.get(rec.networkId);
      const ns = rec && namespaceOf(rec, state);
      if (!old && !rec) continue;
      if (old && rec && old.rec === rec && old.net === net && old.ns === ns && oldOk && !routers.has(id)) continue;
      eps.push({ id, old, oldOk, rec, net, ns });
    }

    // Namespaces: new or replaced ones, and those an endpoint changed in or out of (resolv.conf).
    const touched = new Set<string>();
    for (const id of nsIds) {
      const ns = state.namespaces.get(id);
      if (!ns || ns.deleting) {
        a.namespaces.delete(id);
        a.failedNamespaces.delete(id);
      } else touched.add(id);
    }
    for (const e of eps) {
      if (e.old?.ns) touched.add(e.old.ns.id);
      if (e.ns) touched.add(e.ns.id);
    }
    const nsPlans: NamespacePlan[] = [];
    for (const id of touched) {
      const ns = state.namespaces.get(id);
      if (!ns || ns.deleting) continue;
      const attached = [...(state.index.endpointsByNamespace.get(id) ?? [])].sort().map((e) => state.endpoints.get(e)!);
      const p = planNamespace(ns, attached, state);
      const old = a.namespaces.get(id);
      if (old && !a.failedNamespaces.has(id) && old.plan === JSON.stringify(p)) {
        a.namespaces.set(id, { rec: ns, plan: old.plan });
        continue;
      }
      nsPlans.push(p);
    }
    const nsFailed = await this.ensureNamespaces(nsPlans, fail);
    for (const p of nsPlans) {
      a.namespaces.set(p.id, { rec: state.namespaces.get(p.id)!, plan: JSON.stringify(p) });
      if (nsFailed.has(p.path)) a.failedNamespaces.add(p.id);
      else a.failedNamespaces.delete(p.id);
    }
    // An endpoint in a namespace that failed before and was not retried here fails as well.
    for (const id of a.failedNamespaces) nsFailed.add(a.namespaces.get(id)!.rec.path);

    const newNet = new Map(nets.filter((n) => n.rec).map((n) => [n.id, planNetworkParts(n.rec!)]));
    const newEp = new Map(eps.filter((e) => e.rec).map((e) => [e.id, planEndpointParts(e.rec!, e.net, e.ns, routedVia(e.rec!, state))]));
    const anyNetwork = state.networks.size > 0;
    const anyAcl = state.index.bridgeHooks();

    // Which links go and which come, decided before either strand starts.
    const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
    const stale: string[] = [];
    for (const n of nets) {
      const now = newNet.get(n.id);
      if (n.old && (!now || !same(n.old.parts.bridge, now.bridge))) stale.push(n.old.parts.bridge.name);
    }
    /** veths of endpoints that stay but leave their namespace (a detach): taken out at once, deleted later */
    const retired: string[] = [];
    const retiredIds = new Set<string>();
    const vethsToMake: VethPlan[] = [];
    const vethsToUpdate: { now: VethPlan; before: VethSettings }[] = [];
    let aclVethGoes = false;
    for (const e of eps) {
      const was = e.old?.parts.veth;
      const now = newEp.get(e.id)?.veth;
      // Routes, QOS and MTU change in place; a new namespace, address or MAC makes a new veth.
      if (was && now && e.oldOk && same({ ...was, settings: null }, { ...now, settings: null })) {
        if (!same(was.settings, now.settings)) vethsToUpdate.push({ now, before: was.settings });
        continue;
      }
      const changed = !e.oldOk || !same(was, now);
      if (was && changed) {
        if (e.rec && !now && e.oldOk) {
          retired.push(was.name);
          retiredIds.add(e.id);
        } else stale.push(was.name);
        if (hasAcls(e.old!.parts)) aclVethGoes = true;
      }
      if (now && changed) {
        // a veth that failed half-way goes first
        if (!was && e.old && !e.oldOk) stale.push(now.name);
        vethsToMake.push(now);
      }
    }

    const links = () =>
      this.guard('links', fail, async () => {
        if (stale.length) await this.dp.deleteLinks([...new Set(stale)]);
        if (retired.length) await this.dp.retireLinks(retired);
        const broken = new Set<string>();
        for (const n of nets) {
          const now = newNet.get(n.id);
          if (!now) continue;
          if (n.old && same(n.old.parts.bridge, now.bridge)) {
            this.status.set(n.id, { state: 'ok' });
            continue;
          }
          if (!(await this.ensureBridge(now, undefined, fail))) broken.add(now.bridge.name);
        }
        // Endpoints whose veth is unchanged but that changed otherwise (a port mapping) are fine as they are.
        for (const e of eps) if (e.rec && !vethsToMake.some((v) => v.endpointId === e.id)) this.status.set(e.id, { state: 'ok' });
        await forEachLimit(vethsToMake, 4, (v) => this.ensureVeth(v, broken, nsFailed, fail, null, false));
        // Overlay remote endpoints: only the entries of those that changed, and all of those on a
        // bridge made again (a new bridge holds none); what a deleted bridge held went with it.
        const goneBridges = stale.filter((n) => n.startsWith(OVERLAY_PREFIX));
        const gone = { has: (dev: string) => stale.includes(dev) || goneBridges.some((n) => isVxlanPortOf(dev, n)) };
        const remove: RemoteEntry[] = [];
        const write: RemoteEntry[] = [];
        for (const e of eps) {
          const was = e.old?.parts.remote ?? [];
          const now = (newEp.get(e.id)?.remote ?? []).filter((x) => !broken.has(x.dev));
          const c = entriesChange(was, now);
          remove.push(...c.remove.filter((x) => !gone.has(x.dev)));
          write.push(...(e.oldOk && !now.some((x) => gone.has(x.dev)) ? c.write : now));
        }
        if (remove.length || write.length) await this.applyRemotes(state, remove, write, fail);
        for (const { now, before } of vethsToUpdate) {
          try {
            await this.dp.updateVeth(now, before);
          } catch (err) {
            fail(now.endpointId, err);
            // Put back what was there, so the rollback of the request finds the kernel as it was.
            await this.dp.updateVeth({ ...now, settings: before }, now.settings).catch(() => undefined);
          }
        }
      });

    const ruleset = async () => {
      try {
        if (anyNetwork !== a.anyNetwork) {
          // The first network makes the table, the last one removes it: rare, done whole.
          await this.dp.setSysctls(hostSysctls(anyNetwork, anyAcl));
          const plan = planHost(state);
          if (anyNetwork) await this.dp.applyNft([plan.nft, plan.nftBridge, plan.nftNetdev]);
          else await this.dp.deleteNft([plan.nft, plan.nftBridge, plan.nftNetdev]);
          await this.dp.ensureIptablesForwardAccept(anyNetwork);
        } else if (anyNetwork && (nets.length || eps.length)) {
          if (anyAcl !== a.anyAcl) await this.dp.setSysctls(hostSysctls(anyNetwork, anyAcl));
          const before = assembleTable(
            nets.flatMap((n) => (n.old ? [n.old.parts] : [])),
            eps.flatMap((e) => (e.old ? [e.old.parts] : [])),
          );
          const after = assembleTable([...newNet.values()], [...newEp.values()]);
          // The elements of a retired veth match nothing once it is renamed: their removal may wait.
          const beforeBridge = assembleBridgeTable(
            nets.flatMap((n) => (n.old ? [n.old.parts] : [])),
            eps.flatMap((e) => (e.old && !retiredIds.has(e.id) ? [e.old.parts] : [])),
          );
          const afterBridge = assembleBridgeTable([...newNet.values()], [...newEp.values()]);
          const beforeNetdev = assembleNetdevTable(nets.flatMap((n) => (n.old ? [n.old.parts] : [])));
          const afterNetdev = assembleNetdevTable([...newNet.values()]);
          if (retiredIds.size) {
            const gone = assembleBridgeTable([], eps.flatMap((e) => (retiredIds.has(e.id) ? [e.old!.parts] : [])));
            await this.dp.applyNftChangeLater([gone], [nftBridgeBase()]);
          }
          try {
            await this.dp.applyNftChange([before, beforeBridge, beforeNetdev], [after, afterBridge, afterNetdev]);
          } catch (err) {
            // The kernel may have drifted from what was applied (an element deleted behind hostd's
            // back): compare the whole table with the kernel once before failing the request.
            this.log.warn(`nft change refused (${(err as Error).message}); retrying against the kernel's table`);
            const plan = planHost(state);
            await this.dp.applyNft([plan.nft, plan.nftBridge, plan.nftNetdev]);
          }
        }
        this.status.set('nft', { state: 'ok' });
      } catch (err) {
        fail('nft', err);
      }
    };
    // An endpoint with ACLs gets its rules before its new veth can carry a packet, and keeps them
    // until its old veth is gone; otherwise the two strands go side by side.
    const aclVethComes = vethsToMake.some((v) => { const p = newEp.get(v.endpointId); return !!p && hasAcls(p); });
    if (aclVethComes) {
      await ruleset();
      await links();
    } else if (aclVethGoes) {
      await links();
      await ruleset();
    } else {
      await Promise.all([links(), ruleset()]);
    }

    const bad = (id: string) => this.status.get(id)?.state === 'error';
    for (const n of nets) {
      if (n.rec) a.networks.set(n.id, { rec: n.rec, parts: newNet.get(n.id)!, ok: !bad(n.id) });
      else a.networks.delete(n.id);
    }
    for (const e of eps) {
      if (e.rec) a.endpoints.set(e.id, { rec: e.rec, net: e.net, ns: e.ns, parts: newEp.get(e.id)! });
      else a.endpoints.delete(e.id);
      if (e.rec && bad(e.id)) a.failedEndpoints.add(e.id);
      else a.failedEndpoints.delete(e.id);
    }
    a.anyNetwork = anyNetwork;
    a.anyAcl = anyAcl;
  }

  // ---- steps shared by both passes -----------------------------------------------------------

  /** Runs a strand; what it throws becomes the error of `id` (both strands always finish). */
  private async guard(id: string, fail: Fail, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      this.status.delete(id);
    } catch (err) {
      fail(id, err);
    }
  }

  /**
   * Applies remote entries; if the kernel refuses, the remote endpoints whose entries were to be
   * written fail with its error (a request that made one is then rolled back).
   */
  private async applyRemotes(state: HostState, remove: RemoteEntry[], write: RemoteEntry[], fail: Fail): Promise<void> {
    try {
      await this.dp.applyRemoteEntries(remove, write);
    } catch (err) {
      const texts = new Set(write.map(entryText));
      for (const ep of state.endpoints.values()) {
        const net = ep.remote ? state.networks.get(ep.networkId) : undefined;
        if (net?.overlay && planEndpointParts(ep, net, undefined).remote?.some((x) => texts.has(entryText(x)))) fail(ep.id, err);
      }
    }
  }

  /** Ensures namespaces (and their resolv.conf); returns the paths of those that failed. */
  private async ensureNamespaces(plans: NamespacePlan[], fail: Fail): Promise<Set<string>> {
    const failed = new Set<string>();
    for (const ns of plans) {
      try {
        await this.dp.ensureNamespace(ns);
        if (!(await this.dp.namespaceExists(ns.path))) {
          throw new SyError('SY_NAMESPACE_NOT_FOUND', `Network namespace "${ns.path}" no longer exists`);
        }
        this.status.set(ns.id, { state: 'ok' });
      } catch (err) {
        failed.add(ns.path);
        fail(ns.id, err);
      }
    }
    return failed;
  }

  /** A bridge with its sysctls (its /proc/sys entries exist only once it does). False if refused. */
  private async ensureBridge(parts: NetworkParts, existing: LinkState | undefined, fail: Fail): Promise<boolean> {
    try {
      await this.dp.ensureBridge(parts.bridge, existing);
      await this.dp.setSysctls(parts.sysctls);
      this.status.set(parts.bridge.networkId, { state: 'ok' });
      return true;
    } catch (err) {
      fail(parts.bridge.networkId, err);
      return false;
    }
  }

  /**
   * Makes one veth. `existing`: the host side as the kernel has it (full pass), kept if intact;
   * `checkPeers` also reads the container side to decide that.
   */
  private async ensureVeth(v: VethPlan, broken: Set<string>, nsFailed: Set<string>, fail: Fail, existing: LinkState | null, checkPeers: boolean): Promise<void> {
    if (broken.has(v.bridge)) return fail(v.endpointId, new SyError('SY_KERNEL', `Bridge "${v.bridge}" is not ready`));
    if (nsFailed.has(v.netnsPath)) return fail(v.endpointId, new SyError('SY_NAMESPACE_NOT_FOUND', `Network namespace "${v.netnsPath}" is not available`));
    try {
      const peer = existing && checkPeers ? await this.dp.readPeer(v) : undefined;
      if (existing && !this.vethIsIntact(v, existing, peer)) {
        await this.dp.deleteLinks([v.name]);
        await this.dp.createVeth(v);
      } else if (!existing) {
        await this.dp.createVeth(v);
      } else if (peer) {
        // At start, a veth kept from before gets its routes, MTU and QOS set again from what the
        // kernel shows: a crash may have cut a change short (a route or a qdisc left behind), or
        // anything may have happened while hostd was down.
        const found = settingsFound(existing, peer);
        if (JSON.stringify(found) !== JSON.stringify(v.settings)) await this.dp.updateVeth(v, found);
      } else if (!checkPeers && (await this.settingsDrifted(v, existing))) {
        this.log.warn(`${v.name}: routes or QOS changed behind hostd's back; setting them again`);
        await this.dp.updateVeth(v, { routes: [] });
      }
      this.status.set(v.endpointId, { state: 'ok' });
    } catch (err) {
      fail(v.endpointId, err);
    }
  }

  /**
   * The periodic resync's check of an intact veth's settings: the host side's QOS qdisc is in the
   * link list already read; the namespace side (its routes and QOS qdisc) costs one process, and is
   * read only for endpoints that have such settings.
   */
  private async settingsDrifted(v: VethPlan, hostSide: LinkState): Promise<boolean> {
    const s = v.settings;
    if (s.ingressBytes && hostSide.qdisc !== 'tbf') return true;
    if (!s.routes.length && !s.egressBytes) return false;
    const peer = await this.dp.readPeer(v);
    if (s.egressBytes && peer.qdisc !== 'tbf') return true;
    return s.routes.some((r) => !peer.routes?.some((p) => p.dst === r.dst && p.via === r.via));
  }

  /** A veth left from before is kept only if it is as planned (both ends, when `peer` was read). */
  private vethIsIntact(v: VethPlan, link: LinkState, peer: PeerState | undefined): boolean {
    if (link.master !== v.bridge || !link.up) return false;
    if (!peer) return true;
    return peer.exists && peer.up && peer.mac === v.mac && peer.addresses.includes(v.address);
  }
}

/**
 * The settings a kept veth has, as far as one read of both ends tells: a rate is not read, so a
 * tbf found counts as "some cap" (NaN), which makes updateVeth set it again or remove it; MTUs
 * that differ between the ends count as unknown too. Keys in planVeth's order, to compare as JSON.
 */
function settingsFound(host: LinkState, peer: PeerState): VethSettings {
  const mtu = host.mtu === peer.mtu ? host.mtu : NaN;
  return {
    ...(mtu !== undefined && mtu !== 1500 ? { mtu } : {}),
    routes: peer.routes ?? [],
    ...(peer.qdisc === 'tbf' ? { egressBytes: NaN } : {}),
    ...(host.qdisc === 'tbf' ? { ingressBytes: NaN } : {}),
  };
}

async function forEachLimit<T>(items: T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}
