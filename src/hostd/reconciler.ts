/**
 * The reconciler makes the kernel match hostd's records. It computes the plan (pure), then applies
 * the difference: namespaces first, then two strands side by side: links (stale ones out, bridges
 * with their sysctls, veths) and the ruleset (host sysctls, one nftables transaction, the iptables
 * accept that coexistence with Docker needs). Two speeds:
 *  - incremental (after each API change): compared with what this process last applied, so creating
 *    one endpoint costs one veth and one nft transaction whatever the size of the host;
 *  - full (at start and on the periodic resync): compared with what the kernel really holds, which
 *    repairs drift (a veth deleted, a rule flushed, a table dropped) and removes marked objects that
 *    no record wants any more (after a crash in the middle of a delete).
 * Failures are per object: one endpoint whose namespace vanished does not stop the others; its
 * status says why, and the next pass tries again.
 */
import type { DataPlane, LinkState } from '../dataplane/dataplane.js';
import type { HostState } from '../model/records.js';
import { NFT_TABLE } from '../model/names.js';
import { planHost, type HostPlan, type VethPlan } from '../plan/host-plan.js';
import { asSyError, SyError } from '../errors.js';

export interface ObjectStatus {
  state: 'ok' | 'error';
  reason?: string;
  code?: string;
}

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
}

export class Reconciler {
  /** per object id (network, endpoint, namespace): the outcome of the last pass that touched it */
  readonly status = new Map<string, ObjectStatus>();
  /** links this process has made or verified: name → fingerprint of the plan they realise */
  private known: Map<string, string> | null = null;
  /** namespaces this process has made or verified: id → fingerprint of their plan */
  private knownNs = new Map<string, string>();
  private lastPlan: HostPlan | null = null;
  passes = 0;

  constructor(
    private readonly dp: DataPlane,
    private readonly log: Logger,
  ) {}

  /** Forget what was applied: the next pass reads the kernel (used after a failure). */
  invalidate(): void {
    this.known = null;
  }

  /**
   * Applies `state` to the kernel. Returns the errors of this pass by object id ('nft' for the
   * ruleset); the same are kept in `status`.
   */
  async reconcile(state: HostState, full: boolean): Promise<Map<string, SyError>> {
    this.passes++;
    const plan = planHost(state);
    const errors = new Map<string, SyError>();
    const fail = (id: string, err: unknown) => {
      const e = asSyError(err);
      errors.set(id, e);
      this.status.set(id, { state: 'error', reason: e.message, code: e.code });
    };
    const readKernel = full || this.known === null;
    const known = readKernel ? new Map<string, string>() : this.known!;
    if (readKernel) this.knownNs.clear();

    for (const ns of plan.namespaces) {
      // The incremental path only visits namespaces whose plan changed since the last pass.
      const nsFp = JSON.stringify(ns);
      if (!readKernel && this.knownNs.get(ns.id) === nsFp) continue;
      try {
        await this.dp.ensureNamespace(ns);
        if (!(await this.dp.namespaceExists(ns.path))) {
          throw new SyError('SY_NAMESPACE_NOT_FOUND', `Network namespace "${ns.path}" no longer exists`);
        }
        this.status.set(ns.id, { state: 'ok' });
        this.knownNs.set(ns.id, nsFp);
      } catch (err) {
        this.knownNs.delete(ns.id);
        fail(ns.id, err);
      }
    }

    // The ruleset names interfaces, not their indexes, so it need not wait for the links: the two go
    // to the kernel side by side (a create or delete costs the longer of the two, not the sum).
    const [links, ruleset] = await Promise.allSettled([
      this.applyLinks(plan, readKernel, known, fail),
      this.applyRuleset(plan, readKernel, fail),
    ]);
    if (links.status === 'rejected') {
      this.known = null;
      throw links.reason;
    }
    if (ruleset.status === 'rejected') fail('nft', ruleset.reason);
    this.known = errors.size ? null : known;
    this.lastPlan = plan;
    if (errors.size) this.log.warn(`reconcile: ${errors.size} object(s) failed: ${[...errors.values()].map((e) => e.message).join('; ')}`);
    return errors;
  }

  /** Stale links out, then bridges (with their sysctls), then veths; `known` is updated as they land. */
  private async applyLinks(plan: HostPlan, readKernel: boolean, known: Map<string, string>, fail: (id: string, err: unknown) => void): Promise<void> {
    const kernelLinks = readKernel ? new Map((await this.dp.listOwnedLinks()).map((l) => [l.name, l])) : null;
    const wanted = new Map<string, string>();
    for (const b of plan.bridges) wanted.set(b.name, JSON.stringify(b));
    for (const v of plan.veths) wanted.set(v.name, JSON.stringify(v));

    // Stale links first: a veth whose endpoint was re-attached elsewhere is made again below.
    const stale: string[] = [];
    for (const name of kernelLinks ? kernelLinks.keys() : known.keys()) {
      const fp = wanted.get(name);
      if (fp === undefined || (!readKernel && known.get(name) !== fp)) stale.push(name);
    }
    if (stale.length) {
      await this.dp.deleteLinks(stale);
      for (const n of stale) {
        known.delete(n);
        kernelLinks?.delete(n);
      }
    }

    const brokenNets = new Set<string>();
    for (const b of plan.bridges) {
      if (!readKernel && known.get(b.name) === wanted.get(b.name)) continue;
      try {
        await this.dp.ensureBridge(b, kernelLinks?.get(b.name));
        // A bridge's /proc/sys entries exist only once it does.
        await this.dp.setSysctls(plan.sysctls.filter((x) => x.key.startsWith(`net/ipv4/conf/${b.name}/`)));
        known.set(b.name, wanted.get(b.name)!);
        this.status.set(b.networkId, { state: 'ok' });
      } catch (err) {
        brokenNets.add(b.name);
        fail(b.networkId, err);
      }
    }

    const nsFailed = new Set(plan.namespaces.filter((n) => this.status.get(n.id)?.state === 'error').map((n) => n.path));
    const toCheck: VethPlan[] = [];
    for (const v of plan.veths) {
      if (brokenNets.has(v.bridge)) {
        fail(v.endpointId, new SyError('SY_KERNEL', `Bridge "${v.bridge}" is not ready`));
        continue;
      }
      if (nsFailed.has(v.netnsPath)) {
        fail(v.endpointId, new SyError('SY_NAMESPACE_NOT_FOUND', `Network namespace "${v.netnsPath}" is not available`));
        continue;
      }
      if (!readKernel && known.get(v.name) === wanted.get(v.name)) continue;
      toCheck.push(v);
    }
    await forEachLimit(toCheck, 4, async (v) => {
      try {
        const link = kernelLinks?.get(v.name);
        if (link && !(await this.vethIsIntact(v, link))) {
          await this.dp.deleteLinks([v.name]);
          await this.dp.createVeth(v);
        } else if (!link) {
          await this.dp.createVeth(v);
        }
        known.set(v.name, wanted.get(v.name)!);
        this.status.set(v.endpointId, { state: 'ok' });
      } catch (err) {
        known.delete(v.name);
        fail(v.endpointId, err);
      }
    });
  }

  /** Host-wide sysctls, the nft table and the iptables accept, in this order. */
  private async applyRuleset(plan: HostPlan, readKernel: boolean, fail: (id: string, err: unknown) => void): Promise<void> {
    try {
      await this.dp.setSysctls(plan.sysctls.filter((x) => !x.key.startsWith('net/ipv4/conf/')));
      if (plan.bridges.length) await this.dp.applyNft(plan.nft, readKernel);
      else await this.dp.deleteNft(NFT_TABLE);
      if (readKernel || this.lastPlan?.iptablesForwardAccept !== plan.iptablesForwardAccept) {
        await this.dp.ensureIptablesForwardAccept(plan.iptablesForwardAccept);
      }
      this.status.set('nft', { state: 'ok' });
    } catch (err) {
      fail('nft', err);
    }
  }

  /** A veth left from before (restart) is kept only if both ends are as planned. */
  private async vethIsIntact(v: VethPlan, link: LinkState): Promise<boolean> {
    if (link.master !== v.bridge || !link.up) return false;
    const peer = await this.dp.readPeer(v);
    return peer.exists && peer.up && peer.mac === v.mac && peer.addresses.includes(v.address);
  }
}

async function forEachLimit<T>(items: T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}
