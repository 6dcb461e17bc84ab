/**
 * What a crash of hostd can leave in the state directory, and how start finishes it (the kernel
 * side is test/kernel/crash.test.ts): a *.tmp of an interrupted write, an adopted namespace whose
 * endpoint was never stored (or was removed), the endpoints of a network whose removal was cut short.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeDataPlane } from '../../src/dataplane/fake.js';
import { newTestHost } from './host-fixture.js';

const NET = { Name: 'n', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.18.0.0/24' }] }] };

describe('start after a crash', () => {
  it('removes the *.tmp of a write cut short and keeps the version before it', async () => {
    const h = await newTestHost();
    const net = await h.svc.createNetwork(NET);
    writeFileSync(join(h.dir, 'networks', `${net.ID}.json.tmp`), '{"format": 1, "rec');
    const again = await newTestHost(new FakeDataPlane(), h.dir);
    assert.equal(again.svc.findNetwork('n').id, net.ID);
    assert.deepEqual(readdirSync(join(h.dir, 'networks')), [`${net.ID}.json`]);
    h.cleanup();
  });

  it('forgets an adopted namespace that holds no endpoint', async () => {
    const fake = new FakeDataPlane();
    fake.namespaces.add('/run/netns/c1');
    const h = await newTestHost(fake);
    await h.svc.createNetwork(NET);
    const ep = await h.svc.createEndpoint({ Name: 'a', HostComputeNetwork: 'n', HostComputeNamespace: '/run/netns/c1', AdoptNamespace: true });
    // As if hostd died after removing the endpoint's record, before forgetting its namespace.
    rmSync(join(h.dir, 'endpoints', `${ep.ID}.json`));
    const again = await newTestHost(fake, h.dir);
    assert.deepEqual([...again.svc.state.namespaces.keys()], []);
    assert.deepEqual(readdirSync(join(h.dir, 'namespaces')), []);
    assert.ok(fake.namespaces.has('/run/netns/c1'), 'the namespace itself is not hostd\'s to remove');
    h.cleanup();
  });

  it('removes an endpoint whose adopted namespace was never stored (the two are written side by side)', async () => {
    const fake = new FakeDataPlane();
    fake.namespaces.add('/run/netns/c1');
    const h = await newTestHost(fake);
    await h.svc.createNetwork(NET);
    const ep = await h.svc.createEndpoint({ Name: 'a', HostComputeNetwork: 'n', HostComputeNamespace: '/run/netns/c1', AdoptNamespace: true, Policies: [{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 8080 } }] });
    // As if hostd died after the endpoint's rename, before the namespace's (seen in CI).
    rmSync(join(h.dir, 'namespaces', `${ep.HostComputeNamespace}.json`));
    const again = await newTestHost(fake, h.dir);
    assert.equal(again.svc.state.endpoints.size, 0);
    assert.deepEqual(readdirSync(join(h.dir, 'endpoints')), []);
    assert.deepEqual([...fake.links.values()].filter((l) => l.kind === 'veth'), [], 'its veth is gone');
    // Its name, address and port are free again.
    const b = await again.svc.createEndpoint({ Name: 'a', HostComputeNetwork: 'n', Policies: [{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 8080 } }] });
    assert.equal(b.IpConfigurations?.[0]?.IpAddress, ep.IpConfigurations?.[0]?.IpAddress);
    h.cleanup();
  });

  it('finishes the removal of a network whose endpoints outlived its record', async () => {
    const fake = new FakeDataPlane();
    fake.namespaces.add('/run/netns/c1');
    const h = await newTestHost(fake);
    const net = await h.svc.createNetwork(NET);
    await h.svc.createEndpoint({ Name: 'a', HostComputeNetwork: 'n', HostComputeNamespace: '/run/netns/c1', AdoptNamespace: true, Policies: [{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 8080 } }] });
    rmSync(join(h.dir, 'networks', `${net.ID}.json`));
    const again = await newTestHost(fake, h.dir);
    assert.equal(again.svc.state.endpoints.size, 0);
    assert.equal(again.svc.state.namespaces.size, 0, 'its adopted namespace is forgotten with it');
    for (const kind of ['networks', 'endpoints', 'namespaces']) assert.deepEqual(readdirSync(join(h.dir, kind)), [], kind);
    assert.deepEqual([...fake.links.keys()], [], 'its bridge and veth are gone');
    assert.equal(fake.nft, null, 'and the ruleset with the last network');
    // A new endpoint may take its port again.
    await again.svc.createNetwork(NET);
    await again.svc.createEndpoint({ Name: 'b', HostComputeNetwork: 'n', Policies: [{ Type: 'PortMapping', Settings: { InternalPort: 80, ExternalPort: 8080 } }] });
    h.cleanup();
  });
});
