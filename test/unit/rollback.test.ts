/**
 * A change the kernel refuses is rolled back whole: the records, the kernel, and what the endpoint's
 * document says about it (found by test/kernel/faults.test.ts: a refused attach of a detached
 * endpoint left it "Degraded" although nothing of the attach remained).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SyError } from '../../src/errors.js';
import { newTestHost, snapshot } from './host-fixture.js';

describe('rollback of a refused change', () => {
  it('a refused attach leaves the detached endpoint as it was, document included', async () => {
    const h = await newTestHost();
    h.fake.namespaces.add('/run/netns/c1');
    await h.svc.createNetwork({ Name: 'n', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.18.0.0/24' }] }] });
    await h.svc.createEndpoint({ Name: 'a', HostComputeNetwork: 'n' });
    const before = snapshot(h);
    const doc = h.svc.endpointDoc(h.svc.findEndpoint('a'));
    h.fake.failNext.set('createVeth', new SyError('SY_KERNEL', 'injected'));
    await assert.rejects(h.svc.attachEndpoint('a', { NamespaceId: '/run/netns/c1', AdoptNamespace: true }), /injected/);
    assert.deepEqual(snapshot(h), before);
    assert.deepEqual(h.svc.endpointDoc(h.svc.findEndpoint('a')), doc);
    h.cleanup();
  });
});
