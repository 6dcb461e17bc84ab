/**
 * The reconciler keeps failures per object: one network whose bridge the kernel refuses must not keep
 * the ruleset (and so every other network's port mappings) from being applied.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeDataPlane } from '../../src/dataplane/fake.js';
import { SyError } from '../../src/errors.js';
import type { BridgePlan, Sysctl } from '../../src/plan/host-plan.js';
import { newTestHost } from './host-fixture.js';

/** The fake, closer to the kernel: /proc/sys/net/ipv4/conf/LINK exists only while LINK does. */
class KernelLikeFake extends FakeDataPlane {
  constructor(private readonly brokenBridge: string) {
    super();
  }
  override async ensureBridge(b: BridgePlan): Promise<void> {
    if (b.name === this.brokenBridge) throw new SyError('SY_KERNEL', `"ip link add ${b.name}" failed: Operation not supported`);
    await super.ensureBridge(b);
  }
  override async setSysctls(s: Sysctl[]): Promise<void> {
    for (const { key } of s) {
      const link = /^net\/ipv4\/conf\/([^/]+)\//.exec(key)?.[1];
      if (link && !this.links.has(link)) throw new SyError('SY_KERNEL', `Cannot set ${key}: No such file or directory`);
    }
    await super.setSysctls(s);
  }
}

test('a bridge the kernel refuses does not keep the other networks\' port mappings out of the ruleset', async () => {
  const first = await newTestHost();
  try {
    await first.svc.createNetwork({ ID: 'a1a1a1a1-0000-4000-8000-000000000001', Name: 'good', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.18.0.0/24' }] }] });
    await first.svc.createNetwork({ ID: 'b2b2b2b2-0000-4000-8000-000000000002', Name: 'broken', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.19.0.0/24' }] }] });
    await first.svc.createEndpoint({ Name: 'web', HostComputeNetwork: 'good', Policies: [{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 8080 } }] });
    // hostd starts again on a host that has just booted, and one bridge cannot be made.
    const kernel = new KernelLikeFake('sy-br-b2b2b2b2');
    const restarted = await newTestHost(kernel, first.dir);
    assert.equal(restarted.svc.reconciler.status.get('b2b2b2b2-0000-4000-8000-000000000002')?.state, 'error');
    assert.ok(kernel.links.has('sy-br-a1a1a1a1'));
    const pmAny = kernel.nft?.sets.find((s) => s.name === 'pm_any');
    assert.deepEqual(pmAny?.elements.map((e) => e.key.join(' . ')), ['tcp . 8080']);
  } finally {
    first.cleanup();
  }
});

test('a detach retires the veth (its bridge elements go too); a retired veth left by a crash goes at the next full pass', async () => {
  const h = await newTestHost();
  try {
    h.fake.namespaces.add('/run/netns/a');
    await h.svc.createNetwork({ Name: 'n', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.18.0.0/24' }] }] });
    await h.svc.createNamespace({ Path: '/run/netns/a' });
    const ep = await h.svc.createEndpoint({ Name: 'e', HostComputeNetwork: 'n', HostComputeNamespace: '/run/netns/a' });
    const veth = `sy-ep-${ep.ID.slice(0, 8)}`;
    assert.ok(h.fake.links.has(veth));
    const retired: string[][] = [];
    const retire = h.fake.retireLinks.bind(h.fake);
    h.fake.retireLinks = async (names) => {
      retired.push(names);
      await retire(names);
    };
    await h.svc.detachEndpoint('e');
    assert.deepEqual(retired, [[veth]], 'retired, not deleted on the way');
    assert.ok(!h.fake.links.has(veth));
    assert.ok(!JSON.stringify(h.fake.nftBridge).includes(veth), 'its bridge elements are gone');
    // what a crash between the rename and the deletion leaves
    h.fake.links.set('sy-gc-0badc0de', { name: 'sy-gc-0badc0de', kind: 'veth', up: false, addresses: [] });
    await h.svc.resync();
    assert.ok(!h.fake.links.has('sy-gc-0badc0de'));
  } finally {
    h.cleanup();
  }
});
