/**
 * The policy documents as HCN (and HNS v1) write them: parsing, the modify request's Add / Remove /
 * Update, and rendering back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyPolicies, modifyPolicies, parsePolicies, renderPolicies } from '../../src/model/policies.js';
import { orderAcls, parseAcl } from '../../src/model/acl.js';
import { aclElements } from '../../src/plan/acl-maps.js';

const acl = (s: Record<string, unknown>) => ({ Type: 'ACL', Settings: { Action: 'Allow', Direction: 'In', ...s } });

test('ACL settings as hcsshim writes them become map elements; Priority absent is 0', () => {
  const r = parseAcl({ Action: 'block', Direction: 'out', Protocols: '6,17', RemoteAddresses: '10.0.0.0/8, 192.0.2.7', RemotePorts: '53,1000-2000' }, 'p');
  assert.equal(r.priority, 0);
  assert.deepEqual(
    aclElements('172.18.0.2', [{ ...r, id: 'x' }], 'Out').elements.map((e) => `${e.key.join(' . ')} : ${e.value}`),
    ['tcp', 'udp'].flatMap((p) => ['10.0.0.0/8', '192.0.2.7'].flatMap((a) => ['53', '1000-2000'].map((port) => `172.18.0.2 . ${p} . ${a} . 0-65535 . ${port} : drop`))),
  );
  assert.equal(parseAcl({ Action: 'Allow', Direction: 'In', Protocols: '256' }, 'p').protocols.length, 0, '256 is any');
  assert.match(parseAcl({ Action: 'Allow', Direction: 'In' }, 'p').id, /^acl-[0-9a-f]{12}$/, 'an Id from the content');
});

test('rules are ordered by Priority, then Block, Pass, Allow on a tie', () => {
  const rules = [
    parseAcl({ Id: 'a', Action: 'Allow', Direction: 'In', Priority: 10 }, 'p'),
    parseAcl({ Id: 'p', Action: 'Pass', Direction: 'In', Priority: 10 }, 'p'),
    parseAcl({ Id: 'b', Action: 'Block', Direction: 'In', Priority: 10 }, 'p'),
    parseAcl({ Id: 'first', Action: 'Allow', Direction: 'In', Priority: 1 }, 'p'),
  ];
  assert.deepEqual(orderAcls(rules).map((r) => r.id), ['first', 'b', 'p', 'a']);
});

test('Add, Remove and Update of a modify request; Update replaces only the Types it holds', () => {
  let p = modifyPolicies(emptyPolicies(), 'add', parsePolicies([acl({ Id: 'one' }), { Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 1_000_000 } }]));
  p = modifyPolicies(p, 'add', parsePolicies([acl({ Id: 'two', Priority: 5 })]));
  assert.deepEqual(p.acls.map((a) => a.id), ['one', 'two']);
  assert.throws(() => modifyPolicies(p, 'add', parsePolicies([acl({ Id: 'one' })])), /already has ACL "one"/);
  assert.throws(() => modifyPolicies(p, 'add', parsePolicies([{ Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 2_000_000 } }])), /use Update/);
  p = modifyPolicies(p, 'update', parsePolicies([acl({ Id: 'three' })]));
  assert.deepEqual(p.acls.map((a) => a.id), ['three']);
  assert.equal(p.qos?.egressBytes, 1_000_000, 'QOS untouched by an ACL Update');
  p = modifyPolicies(p, 'remove', parsePolicies([{ Type: 'QOS', Settings: { MaximumOutgoingBandwidthInBytes: 1_000_000 } }, acl({ Id: 'three' })]));
  assert.deepEqual(p, { acls: [], routes: [] });
});

test('OutBoundNAT takes v2 and v1 spellings and renders v2', () => {
  const v1 = parsePolicies([{ Type: 'OutBoundNAT', Settings: { VIP: '192.0.2.9', ExceptionList: ['10.0.0.0/8', '192.168.1.1'] } }]).outboundNat[0]!;
  assert.deepEqual(v1, { exceptions: ['10.0.0.0/8', '192.168.1.1/32'], destinations: [], virtualIp: '192.0.2.9' });
  assert.throws(() => parsePolicies([{ Type: 'OutBoundNAT', Settings: { VIP: '192.0.2.9', VirtualIP: '192.0.2.8' } }]), /not both/);
  const out = renderPolicies({ acls: [], routes: [], outboundNat: v1 });
  assert.deepEqual(out, [{ Type: 'OutBoundNAT', Settings: { VirtualIP: '192.0.2.9', Exceptions: ['10.0.0.0/8', '192.168.1.1/32'] } }]);
});
