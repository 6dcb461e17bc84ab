/**
 * NetworkACL: rules given to a network reach every endpoint of it, ordered by Priority with the
 * endpoint's own and shown with the Id prefix `network/`; PATCH of a network changes them for all
 * its endpoints in one transaction; bad requests change nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SyError } from '../../src/errors.js';
import { renderElement } from '../../src/plan/nft-table.js';
import { newTestHost, snapshot, type TestHost } from './host-fixture.js';

const rule = (s: Record<string, unknown>) => ({ Type: 'NetworkACL', Settings: { Action: 'Block', Direction: 'In', Protocols: '6', LocalPorts: '22', Priority: 10, ...s } });
const modify = (RequestType: string, ...Policies: unknown[]) => ({ ResourceType: 'Policy', RequestType, Settings: { Policies } });

let h: TestHost;
before(async () => {
  h = await newTestHost();
  await h.svc.createNetwork({ Name: 'tenant', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.31.0.0/24' }] }], Policies: [rule({ Id: 'no-ssh' })] });
  await h.svc.createEndpoint({ Name: 'plain', HostComputeNetwork: 'tenant' });
  await h.svc.createEndpoint({
    Name: 'own',
    HostComputeNetwork: 'tenant',
    Policies: [{ Type: 'ACL', Settings: { Id: 'web', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '80', Priority: 5 } }],
  });
});
after(() => h.cleanup());

/** An endpoint's ACL elements (both directions), as nft would print them. */
const aclOf = (name: string) => {
  const ep = h.svc.findEndpoint(name);
  const maps = h.fake.nft?.sets.filter((s) => s.name === 'acl_out' || s.name === 'acl_in') ?? [];
  return maps.flatMap((s) => s.elements.filter((e) => e.key[0] === ep.ip).map(renderElement));
};

test('a network rule reaches an endpoint without ACLs of its own, which becomes default-deny', () => {
  const ip = h.svc.findEndpoint('plain').ip;
  const els = aclOf('plain');
  assert.deepEqual(els, [`${ip} . tcp . 0.0.0.0/0 . 22 . 0-65535 comment "acl network/no-ssh" : drop`]);
  const doc = h.svc.endpointDoc(h.svc.findEndpoint('plain')) as { AclDefaults: { In: string; Out: string }; Policies: unknown[] };
  assert.deepEqual(doc.AclDefaults, { In: 'Block', Out: 'Block' }, 'the HNS rule holds for network rules too, and inspect shows it');
  assert.deepEqual(doc.Policies, [], "the endpoint's own policies stay its own");
});

test("network and endpoint rules are ordered together by Priority", () => {
  const ids = aclOf('own').map((r) => /comment "acl ([^"]+)"/.exec(r)?.[1]);
  assert.deepEqual(ids, ['web', 'network/no-ssh']);
});

test('the network document shows its NetworkACL policies', () => {
  const doc = h.svc.networkDoc(h.svc.findNetwork('tenant')) as { Policies: { Type: string; Settings: { Id: string } }[] };
  assert.deepEqual(doc.Policies.map((p) => [p.Type, p.Settings.Id]), [['NetworkACL', 'no-ssh']]);
});

test('PATCH Add, Update and Remove change every endpoint of the network', async () => {
  await h.svc.modifyNetwork('tenant', modify('Add', rule({ Id: 'no-smtp', LocalPorts: '25', Priority: 1 })));
  for (const ep of ['plain', 'own']) assert.ok(aclOf(ep).some((r) => r.includes('"acl network/no-smtp"')), ep);
  await h.svc.modifyNetwork('tenant', modify('Update', rule({ Id: 'only', LocalPorts: '23' })));
  for (const ep of ['plain', 'own']) {
    const ids = aclOf(ep).map((r) => /comment "acl (network\/[^"]+)"/.exec(r)?.[1]).filter(Boolean);
    assert.deepEqual(ids, ['network/only'], ep);
  }
  await h.svc.modifyNetwork('tenant', modify('Remove', rule({ Id: 'only' })));
  assert.deepEqual(aclOf('plain'), [], 'no rule left for it: no elements, default open again');
  assert.ok(!h.fake.nft?.sets.find((s) => s.name === 'acl_eps')?.elements.some((e) => e.key[0] === h.svc.findEndpoint('plain').ip), 'nor is it among the endpoints with ACLs');
  assert.ok(aclOf('own').length > 0, 'its own rule keeps its elements');
  await h.svc.modifyNetwork('tenant', modify('Add', rule({ Id: 'no-ssh' })));
});

test('a restart keeps the network rules', async () => {
  const again = await newTestHost(undefined, h.dir); // the same store: a restart of hostd
  assert.deepEqual((again.svc.findNetwork('tenant').acls ?? []).map((a) => a.id), ['no-ssh']);
  assert.equal(again.fake.nft?.sets.some((s) => s.elements.some((e) => e.comment === 'acl network/no-ssh')), true);
});

test('bad requests are refused with the field they name and change nothing', async () => {
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['a second rule with the same Id', () => h.svc.modifyNetwork('tenant', modify('Add', rule({ Id: 'no-ssh' }))), /already has NetworkACL "no-ssh"/],
    ['removing a rule it does not have', () => h.svc.modifyNetwork('tenant', modify('Remove', rule({ Id: 'nope' }))), /no NetworkACL "nope"/],
    ['a port out of range', () => h.svc.modifyNetwork('tenant', modify('Add', rule({ Id: 'x', LocalPorts: '70000' }))), /Settings\.Policies\[0\]\.Settings\.LocalPorts/],
    ['another policy Type', () => h.svc.modifyNetwork('tenant', modify('Add', { Type: 'QOS', Settings: {} })), /Settings\.Policies\[0\]: "QOS" cannot be changed on a network/],
    ['an unknown RequestType', () => h.svc.modifyNetwork('tenant', modify('Replace', rule({ Id: 'x' }))), /RequestType "Replace"/],
    ['a network that does not exist', () => h.svc.modifyNetwork('nowhere', modify('Add', rule({ Id: 'x' }))), /nowhere/],
    ['NetworkACL given to an endpoint', () => h.svc.modifyEndpoint('own', { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: [rule({ Id: 'x' })] } }), /NetworkACL is a network policy/],
    [
      'a network created with a bad rule',
      () => h.svc.createNetwork({ Name: 'bad', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.30.9.0/24' }] }], Policies: [rule({ Action: 'Maybe' })] }),
      /Policies\[0\]\.Settings\.Action/,
    ],
  ];
  for (const [what, call, message] of cases) {
    const before = snapshot(h);
    await assert.rejects(call, (e: unknown) => e instanceof SyError && message.test(e.message), what);
    assert.deepEqual(snapshot(h), before, `${what}: nothing changed`);
  }
});

test('a change the kernel refuses is rolled back for every endpoint', async () => {
  const before = snapshot(h);
  h.fake.failNext.set('applyNft', new SyError('SY_KERNEL', 'injected: nft refused'));
  h.fake.failTimes.set('applyNft', 2); // the change, and the whole table tried after it
  await assert.rejects(h.svc.modifyNetwork('tenant', modify('Add', rule({ Id: 'late', LocalPorts: '8080' }))), /injected: nft refused/);
  assert.deepEqual(snapshot(h), before);
});

test('trace names the network rule that decides', async () => {
  const own = h.svc.findEndpoint('own');
  const r = (await h.svc.trace({ Endpoint: 'plain', Direction: 'In', Protocol: 'tcp', RemoteAddress: own.ip, LocalPort: 22 })) as { Verdict: string; DecidedBy: { Id?: string; Reason: string } };
  assert.equal(r.Verdict, 'Block');
  assert.equal(r.DecidedBy.Id, 'network/no-ssh', JSON.stringify(r));
});

test('PATCH of a network also adds and removes HostAccess policies, leaving its rules alone', async () => {
  const access = (Ports: string) => ({ Type: 'HostAccess', Settings: { Ports, Protocols: '6' } });
  await h.svc.modifyNetwork('tenant', modify('Add', access('8080')));
  assert.deepEqual(h.svc.findNetwork('tenant').hostAccess, [{ protocols: [6], ports: ['8080'] }]);
  assert.deepEqual((h.svc.findNetwork('tenant').acls ?? []).map((a) => a.id), ['no-ssh'], 'an Add of HostAccess keeps the NetworkACL rules');
  const opened = () => h.fake.nft?.sets.find((x) => x.name === 'host_access')?.elements.map((e) => e.key.join(' . ')) ?? [];
  assert.deepEqual(opened(), [`"${h.svc.networkDoc(h.svc.findNetwork('tenant')).Bridge}" . tcp . 8080`]);
  const before = snapshot(h);
  await assert.rejects(h.svc.modifyNetwork('tenant', modify('Remove', access('9090'))), /no HostAccess policy for ports 9090/);
  assert.deepEqual(snapshot(h), before);
  await h.svc.modifyNetwork('tenant', modify('Remove', access('8080')));
  assert.equal(h.svc.findNetwork('tenant').hostAccess, undefined);
  assert.deepEqual(opened(), []);
});
