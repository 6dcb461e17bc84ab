/**
 * AdoptNamespace (the CNI plugin's one-request attach): an endpoint request may name the path of an
 * existing namespace hostd does not know; it is adopted with the endpoint, forgotten with its last
 * endpoint (also when the network goes), never created, and a refused request leaves no record of it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SyError } from '../../src/errors.js';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newTestHost, snapshot, type TestHost } from './host-fixture.js';

describe('endpoint requests with AdoptNamespace', () => {
  let h: TestHost;
  const paths = () => [...h.svc.state.namespaces.values()].map((n) => n.path).sort();
  const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: SyError) => e.code);

  before(async () => {
    h = await newTestHost();
    for (const p of ['/run/netns/c1', '/run/netns/c2', '/proc/42/ns/net']) h.fake.namespaces.add(p);
    await h.svc.createNetwork({ Name: 'n', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.18.0.0/24' }] }] });
  });
  after(() => h.cleanup());

  it('adopts the namespace with the endpoint and forgets it with the last endpoint', async () => {
    const a = await h.svc.createEndpoint({ Name: 'a', HostComputeNetwork: 'n', HostComputeNamespace: '/run/netns/c1', AdoptNamespace: true });
    const b = await h.svc.createEndpoint({ Name: 'b', HostComputeNetwork: 'n', HostComputeNamespace: '/run/netns/c1', AdoptNamespace: true, InterfaceName: 'eth1' });
    assert.equal(a.HostComputeNamespace, b.HostComputeNamespace, 'one record for the namespace');
    assert.deepEqual(paths(), ['/run/netns/c1']);
    assert.equal(h.svc.namespaceDoc(h.svc.findNamespace('/run/netns/c1')).AutoRelease, true);
    await h.svc.deleteEndpoint('a');
    assert.deepEqual(paths(), ['/run/netns/c1'], 'kept while an endpoint remains');
    await h.svc.deleteEndpoint('b');
    assert.deepEqual(paths(), []);
    assert.ok(h.fake.namespaces.has('/run/netns/c1'), 'the namespace itself is untouched');
  });

  it('never creates a namespace, and without AdoptNamespace an unknown one is still refused', async () => {
    assert.equal(await code(h.svc.createEndpoint({ Name: 'x', HostComputeNetwork: 'n', HostComputeNamespace: '/run/netns/none', AdoptNamespace: true })), 'SY_NAMESPACE_NOT_FOUND');
    assert.equal(await code(h.svc.createEndpoint({ Name: 'x', HostComputeNetwork: 'n', HostComputeNamespace: '/run/netns/c2' })), 'SY_NAMESPACE_NOT_FOUND');
    assert.deepEqual(paths(), []);
    assert.ok(!h.fake.namespaces.has('/run/netns/none'));
  });

  it('a refused endpoint leaves no record of the namespace', async () => {
    await h.svc.createEndpoint({ Name: 'p', HostComputeNetwork: 'n', HostComputeNamespace: '/proc/42/ns/net', AdoptNamespace: true, Policies: [{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 8080 } }] });
    const refused = h.svc.createEndpoint({ Name: 'q', HostComputeNetwork: 'n', HostComputeNamespace: '/run/netns/c2', AdoptNamespace: true, Policies: [{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 8080 } }] });
    assert.equal(await code(refused), 'SY_PORT_IN_USE');
    assert.deepEqual(paths(), ['/proc/42/ns/net']);
  });

  it('writes the endpoint and the adopted namespace side by side; when either write fails, neither is left', async () => {
    for (const kind of ['namespaces', 'endpoints']) {
      const before = snapshot(h);
      const dir = join(h.dir, kind);
      renameSync(dir, `${dir}.away`);
      writeFileSync(dir, 'not a directory'); // every write under it now fails
      try {
        const r = h.svc.createEndpoint({ Name: `w-${kind}`, HostComputeNetwork: 'n', HostComputeNamespace: '/run/netns/c2', AdoptNamespace: true });
        assert.equal(await code(r), 'SY_STORE', kind);
      } finally {
        rmSync(dir);
        renameSync(`${dir}.away`, dir);
      }
      assert.deepEqual(snapshot(h), before, `${kind} unwritable: nothing of the request remains`);
    }
  });

  it('removing the network forgets the namespaces adopted for its endpoints, not the others', async () => {
    await h.svc.createNamespace({ Path: '/run/netns/c2' });
    await h.svc.createEndpoint({ Name: 'r', HostComputeNetwork: 'n', HostComputeNamespace: '/run/netns/c2', AdoptNamespace: true });
    await h.svc.deleteNetwork('n');
    assert.deepEqual(paths(), ['/run/netns/c2'], 'an explicitly adopted namespace stays');
  });
});
