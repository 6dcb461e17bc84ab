/**
 * The incremental pass plans only what changed; the full plan is the reference. After every request
 * of a long random sequence (creates, removals, attach/detach, policy changes, refused requests,
 * kernel failures injected on the way),
 * what the data plane holds must be exactly what a full plan of the records calls for.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SyError } from '../../src/errors.js';
import { planHost } from '../../src/plan/host-plan.js';
import { renderTable, type NftTable } from '../../src/plan/nft-table.js';
import { newTestHost, type TestHost } from './host-fixture.js';

/** Table text with chains in name order (the incremental path appends a new network's chains). */
function canonical(t: NftTable | null): string {
  if (!t) return 'no table';
  return renderTable({ ...t, chains: [...t.chains].sort((a, b) => a.name.localeCompare(b.name)) });
}

function expectMatchesFullPlan(h: TestHost, step: string): void {
  const plan = planHost(h.svc.state);
  assert.equal(canonical(h.fake.nft), plan.bridges.length ? canonical(plan.nft) : 'no table', `nft after ${step}`);
  assert.equal(canonical(h.fake.nftBridge), plan.bridges.length ? canonical(plan.nftBridge) : 'no table', `bridge nft after ${step}`);
  const links = [...h.fake.links.values()].map((l) => `${l.name}${l.master ? `@${l.master}` : ''}${l.peer ? `>${l.peer.netnsPath}:${l.peer.address}` : ''}`).sort();
  const want = [
    ...plan.bridges.map((b) => b.name),
    ...plan.veths.map((v) => `${v.name}@${v.bridge}>${v.netnsPath}:${v.address}`),
  ].sort();
  assert.deepEqual(links, want, `links after ${step}`);
  for (const v of plan.veths) assert.deepEqual(h.fake.links.get(v.name)?.peer?.settings, v.settings, `routes and QOS of ${v.name} after ${step}`);
  for (const ns of plan.namespaces) {
    if (ns.resolvConf) assert.equal(h.fake.files.get(ns.resolvConf.path), ns.resolvConf.content ?? undefined, `resolv.conf after ${step}`);
  }
}

/** A small deterministic PRNG (mulberry32), so a failure names its seed and replays. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const seed of [1, 2, 3]) {
  test(`incremental passes agree with the full plan over 250 random requests (seed ${seed})`, async () => {
    const h = await newTestHost();
    const rand = rng(seed);
    const pick = <T>(xs: T[]): T | undefined => (xs.length ? xs[Math.floor(rand() * xs.length)] : undefined);
    let n = 0;
    try {
      for (let i = 0; i < 250; i++) {
        const nets = [...h.svc.state.networks.values()];
        const eps = [...h.svc.state.endpoints.values()];
        const nss = [...h.svc.state.namespaces.values()];
        const r = rand();
        let step = '';
        // now and then the kernel refuses the next veth or nft transaction
        const inject = rand();
        if (inject < 0.04) h.fake.failNext.set('createVeth', new SyError('SY_KERNEL', 'injected: veth refused'));
        else if (inject < 0.08) h.fake.failNext.set('applyNft', new SyError('SY_KERNEL', 'injected: nft refused'));
        try {
          if (r < 0.08 || !nets.length) {
            step = 'create network';
            n++;
            await h.svc.createNetwork({
              Name: `net${n}`,
              Type: 'NAT',
              Ipams: [{ Subnets: [{ IpAddressPrefix: `10.${n % 250}.0.0/24` }] }],
              ...(rand() < 0.5 ? { Dns: { ServerList: ['192.0.2.53'], Search: ['example.test'] } } : {}),
            });
          } else if (r < 0.12) {
            step = 'delete network';
            await h.svc.deleteNetwork(pick(nets)!.id);
          } else if (r < 0.22) {
            step = 'create namespace';
            await h.svc.createNamespace({});
          } else if (r < 0.27) {
            step = 'delete namespace';
            await h.svc.deleteNamespace(pick(nss)?.id ?? 'none');
          } else if (r < 0.5) {
            step = 'create endpoint';
            const ns = rand() < 0.6 ? pick(nss.filter((x) => !x.deleting)) : undefined;
            const ports = rand() < 0.7 ? [{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: rand() < 0.5 ? 0 : 8000 + Math.floor(rand() * 50), PortCount: rand() < 0.2 ? 3 : 1 } }] : [];
            await h.svc.createEndpoint({
              Name: `ep${i}`,
              HostComputeNetwork: pick(nets)!.id,
              ...(ns ? { HostComputeNamespace: ns.id } : {}),
              ...(rand() < 0.3 ? { Dns: { ServerList: ['192.0.2.54'] } } : {}),
              Policies: ports,
            });
          } else if (r < 0.65) {
            step = 'delete endpoint';
            await h.svc.deleteEndpoint(pick(eps)?.id ?? 'none');
          } else if (r < 0.75) {
            step = 'attach';
            const ns = pick(nss.filter((x) => !x.deleting));
            await h.svc.attachEndpoint(pick(eps)?.id ?? 'none', { NamespaceId: ns?.id ?? 'none' });
          } else if (r < 0.83) {
            step = 'detach';
            await h.svc.detachEndpoint(pick(eps)?.id ?? 'none');
          } else {
            step = 'modify';
            const kind = pick(['Add', 'Remove', 'Update'])!;
            const target = pick(eps);
            const router = target && pick(eps.filter((e) => e.networkId === target.networkId && e.id !== target.id));
            const policy = pick([
              { Type: 'SDNRoute', Settings: { DestinationPrefix: `10.${210 + Math.floor(rand() * 3)}.0.0/16`, ...(router ? { NextHop: router.ip } : {}) } },
              { Type: 'PortMapping', Settings: { InternalPort: 81, ExternalPort: 9000 + Math.floor(rand() * 20), Protocol: pick(['TCP', 'UDP']) } },
              { Type: 'ACL', Settings: { Id: `r${Math.floor(rand() * 4)}`, Action: pick(['Allow', 'Block', 'Pass']), Direction: pick(['In', 'Out']), Priority: Math.floor(rand() * 300) } },
              { Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 1_000_000 * (1 + Math.floor(rand() * 3)) } },
              { Type: 'SDNRoute', Settings: { DestinationPrefix: `10.${200 + Math.floor(rand() * 3)}.0.0/16` } },
              { Type: 'OutBoundNAT', Settings: { Exceptions: [`198.51.100.${Math.floor(rand() * 3)}`] } },
            ])!;
            await h.svc.modifyEndpoint(target?.id ?? 'none', { ResourceType: 'Policy', RequestType: kind, Settings: { Policies: [policy] } });
          }
        } catch (err) {
          // refused requests are part of the sequence; they must change nothing either
          assert.match((err as { code?: string }).code ?? '', /^SY_/, `${step}: ${(err as Error).message}`);
        }
        // A refused create or change is rolled back at once; the cleanup after a removal the kernel
        // refused is left to the periodic resync, which runs here.
        if (inject < 0.08 && !h.fake.failNext.size) await h.svc.resync();
        h.fake.failNext.clear();
        expectMatchesFullPlan(h, `request ${i} (${step})`);
      }
      assert.ok(h.svc.reconciler.passes > 100);
    } finally {
      h.cleanup();
    }
  });
}
