/**
 * Host access: the HostAccess network policy (parsed like an ACL's ports and protocols), the CLI's and
 * Docker's "53/udp,8080-8090" spelling, the ranges the kernel's set gets, what trace answers for a
 * packet to the host and to another network's published port, and the service's refusals.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostAccessAllows, hostAccessPolicies, hostAccessRanges, parseHostAccess, parseHostAccessPolicies } from '../../src/model/host-access.js';
import { parseNetworkPolicies } from '../../src/model/network-settings.js';
import { trace } from '../../src/model/trace.js';
import { networkRequest } from '../../src/docker/translate.js';
import { planHost } from '../../src/plan/host-plan.js';
import { newTestHost } from './host-fixture.js';

test('HostAccess Settings are read like an ACL\'s Protocols and LocalPorts', () => {
  assert.deepEqual(parseHostAccess({ Ports: '8080-8090, 53', Protocols: 'udp,6' }, 'p'), { protocols: [6, 17], ports: ['8080-8090', '53'] });
  const bad: [unknown, RegExp][] = [
    [{ Ports: '53' }, /Protocols must list 6 \(TCP\), 17 \(UDP\) or 132/],
    [{ Ports: '53', Protocols: '256' }, /Protocols must list/],
    [{ Ports: '53', Protocols: '1' }, /Protocols must list/],
    [{ Protocols: '6' }, /Ports is required/],
    [{ Ports: '0', Protocols: '6' }, /"0" is not a port/],
    [{ Ports: '80,70-90', Protocols: '6' }, /overlaps/],
    [{ Ports: '53', Protocols: '6', Addresses: '10.0.0.1' }, /unknown HostAccess setting "Addresses"/],
    [{ Ports: '53;reboot', Protocols: '6' }, /is not a port/],
    ['53', /must be an object/],
  ];
  for (const [s, re] of bad) assert.throws(() => parseHostAccess(s, 'Policies[0]'), re, JSON.stringify(s));
});

test('only HostAccess is taken among network policies; the others are refused, not ignored', () => {
  assert.equal(parseHostAccessPolicies([{ Type: 'hostaccess', Settings: { Ports: '53', Protocols: '17' } }]).length, 1);
  assert.deepEqual(parseNetworkPolicies([{ Type: 'hostaccess', Settings: { Ports: '53', Protocols: '17' } }]), { stored: [] }, 'taken, kept apart');
  assert.throws(() => parseNetworkPolicies([{ Type: 'VxlanPort', Settings: { Port: 4789 } }]), /"VxlanPort" is not supported on NAT networks/);
  assert.throws(() => parseNetworkPolicies([{ Type: 'Bogus' }]), /"Bogus" is not supported/);
});

test('the CLI and Docker spelling becomes one HostAccess policy per protocol', () => {
  assert.deepEqual(hostAccessPolicies('53/udp,53/tcp,8080-8090', '--host-access'), [
    { Type: 'HostAccess', Settings: { Ports: '53,8080-8090', Protocols: '6' } },
    { Type: 'HostAccess', Settings: { Ports: '53', Protocols: '17' } },
  ]);
  assert.throws(() => hostAccessPolicies('53/icmp', '--host-access'), /"53\/icmp" is not PORT/);
  assert.throws(() => hostAccessPolicies('70000', '--host-access'), /not a port/);
  const { doc } = networkRequest('nat', { NetworkID: 'a'.repeat(64), Options: { 'com.docker.network.generic': { 'switchyard.host-access': '53/udp' } } } as never);
  assert.deepEqual(doc.Policies, [{ Type: 'HostAccess', Settings: { Ports: '53', Protocols: '17' } }]);
});

test('overlapping and adjacent ports of several policies become disjoint ranges per protocol', () => {
  const rules = [parseHostAccess({ Ports: '8080-8090,53', Protocols: '6,17' }, 'a'), parseHostAccess({ Ports: '8085-8095,54', Protocols: '6' }, 'b')];
  assert.deepEqual(hostAccessRanges(rules), [
    { protocol: 'tcp', ports: '53-54' },
    { protocol: 'tcp', ports: '8080-8095' },
    { protocol: 'udp', ports: '53' },
    { protocol: 'udp', ports: '8080-8090' },
  ]);
});

test('the service keeps HostAccess, renders it, and trace answers with it', async () => {
  const h = await newTestHost();
  try {
    await h.svc.createNetwork({ Name: 'a', Type: 'NAT', Dns: { ServerList: ['172.30.0.1'] }, Ipams: [{ Subnets: [{ IpAddressPrefix: '172.30.0.0/24' }] }], Policies: [{ Type: 'HostAccess', Settings: { Ports: '8080', Protocols: '6' } }] });
    await h.svc.createNetwork({ Name: 'b', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.31.0.0/24' }] }] });
    await assert.rejects(h.svc.createNetwork({ Name: 'c', Type: 'NAT', Policies: [{ Type: 'HostAccess', Settings: { Ports: 'x', Protocols: '6' } }] }), /Policies\[0\]\.Settings\.Ports: "x"/);
    assert.equal(h.svc.state.networks.size, 2, 'the refused network left nothing');
    const doc = h.svc.networkDoc(h.svc.findNetwork('a')) as { Policies: unknown[]; HostAccess: { Default: string; Allowed: { Ports: string; Reason: string }[] } };
    assert.deepEqual(doc.Policies, [{ Type: 'HostAccess', Settings: { Ports: '8080', Protocols: '6' } }]);
    assert.equal(doc.HostAccess.Default, 'Block');
    assert.deepEqual(doc.HostAccess.Allowed.map((x) => x.Ports), ['53', '8080'], 'DNS to the gateway, then the policy');

    await h.svc.createNamespace({ Path: '/run/netns/x' });
    await h.svc.createNamespace({ Path: '/run/netns/y' });
    await h.svc.createEndpoint({ Name: 'ea', HostComputeNetwork: 'a', HostComputeNamespace: '/run/netns/x' });
    await h.svc.createEndpoint({ Name: 'eb', HostComputeNetwork: 'b', HostComputeNamespace: '/run/netns/y', Policies: [{ Type: 'PortMapping', Settings: { Protocol: 6, InternalPort: 80, ExternalPort: 9000 } }] });
    const ea = h.svc.findEndpoint('ea');
    const out = (dst: string, protocol: number, port?: number) => trace(h.svc.state, ea, { direction: 'Out', protocol, remoteAddress: dst, ...(port ? { remotePort: port } : {}) }, ['192.0.2.1']);
    assert.equal(out('192.0.2.1', 6, 8080).verdict, 'Allow');
    assert.equal(out('192.0.2.1', 6, 22).decidedBy.layer, 'HostAccess');
    assert.equal(out('192.0.2.1', 6, 22).verdict, 'Block');
    assert.equal(out('172.30.0.1', 17, 53).verdict, 'Allow', 'DNS to its gateway');
    assert.equal(out('172.31.0.1', 17, 53).verdict, 'Block', 'DNS to the other network\'s gateway');
    assert.equal(out('172.30.0.1', 1).verdict, 'Allow', 'ping to its gateway');
    assert.equal(out('192.0.2.1', 1).verdict, 'Block', 'ping to another host address');
    assert.equal(out('127.0.0.1', 6, 8080).decidedBy.layer, 'Isolation', 'loopback');
    const published = out('192.0.2.1', 6, 9000);
    assert.deepEqual([published.verdict, published.decidedBy.layer], ['Block', 'Isolation'], 'another network\'s published port');
    const inn = trace(h.svc.state, h.svc.findEndpoint('eb'), { direction: 'In', protocol: 6, remoteAddress: ea.ip, hostPort: 9000 }, ['192.0.2.1']);
    assert.deepEqual([inn.verdict, inn.decidedBy.layer], ['Block', 'Isolation']);
    assert.ok(hostAccessAllows(h.svc.findNetwork('a'), '172.30.0.1', 6, 53));
    assert.equal(hostAccessAllows(h.svc.findNetwork('b'), '172.31.0.1', 6, 53), undefined, 'b names no DNS server');

    const sets = new Map(planHost(h.svc.state).nft.sets.map((s) => [s.name, s.elements.map((e) => e.key.join(' . '))]));
    assert.deepEqual(sets.get('host_access'), ['"sy-br-' + h.svc.findNetwork('a').id.slice(0, 8) + '" . tcp . 8080']);
    assert.equal(sets.get('gateway_dns')!.length, 1);
    assert.equal(sets.get('net_gateway')!.length, 2);
  } finally {
    h.cleanup();
  }
});
