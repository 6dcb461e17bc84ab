/**
 * ACL rules as disjoint map elements (src/plan/acl-maps.ts): for any rules and any packet, the one
 * box the packet falls in belongs to the rule that a first-match walk of the ordered rules picks
 * (none when no rule matches), so one lookup decides as the rule list would. Checked against an
 * independent walk over random rules and packets, and on hand-made cases; plus the element budget.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compileAcls, lookupBox, subtract, aclElements, MAX_ACL_ELEMENTS, type Box } from '../../src/plan/acl-maps.js';
import { orderAcls, parseAcl, type AclRule } from '../../src/model/acl.js';
import { ipToInt } from '../../src/model/ipv4.js';
import { SyError } from '../../src/errors.js';
import type { NftElement } from '../../src/plan/nft-table.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeDataPlane } from '../../src/dataplane/fake.js';
import { newTestHost } from './host-fixture.js';

const EP = '172.20.0.5';

/** The reference: the first rule (in evaluation order) whose every field holds the packet. */
function firstMatch(rules: readonly AclRule[], p: Packet): AclRule | undefined {
  const inAddr = (list: string[], ip: number) =>
    !list.length ||
    list.some((a) => {
      const r = /^(.+)-(.+)$/.exec(a);
      if (r) return ip >= ipToInt(r[1]!) && ip <= ipToInt(r[2]!);
      const [base, len] = a.split('/');
      const size = 2 ** (32 - Number(len ?? 32));
      return ip >= ipToInt(base!) && ip < ipToInt(base!) + size;
    });
  const inPorts = (list: string[], port: number) => !list.length || list.some((x) => { const [lo, hi] = x.split('-').map(Number); return port >= lo! && port <= (hi ?? lo!); });
  return rules.find((r) =>
    (!r.protocols.length || r.protocols.includes(p.proto)) &&
    inAddr(r.localAddresses, ipToInt(EP)) &&
    inAddr(r.remoteAddresses, p.remote) &&
    inPorts(r.localPorts, p.lport) &&
    inPorts(r.remotePorts, p.rport));
}

interface Packet {
  proto: number;
  remote: number;
  lport: number;
  rport: number;
}

// Small worlds make overlaps likely: a few protocols, addresses in 10.0.0.0/28, ports 1-12.
const PROTOS = [1, 6, 17, 47, 132];
const portItem = fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 4 })).map(([lo, w]) => (w ? `${lo}-${lo + w}` : String(lo)));
const addrItem = fc.oneof(
  fc.integer({ min: 0, max: 15 }).map((i) => `10.0.0.${i}`),
  fc.constantFrom('10.0.0.0/30', '10.0.0.4/30', '10.0.0.8/29', '10.0.0.0/28', '172.20.0.0/24'),
  fc.tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 6 })).map(([lo, w]) => `10.0.0.${lo}-10.0.0.${Math.min(15, lo + w)}`),
);
/** One item a list may hold at most once, and no two overlapping (what parseAcl refuses). */
const list = (item: fc.Arbitrary<string>) => fc.array(item, { maxLength: 2 }).map((xs) => xs.join(','));
const ruleDoc = fc.record({
  Action: fc.constantFrom('Allow', 'Block', 'Pass'),
  Protocols: fc.oneof(fc.constant('256'), fc.subarray(PROTOS, { minLength: 1, maxLength: 2 }).map((ps) => ps.join(','))),
  RemoteAddresses: list(addrItem),
  LocalAddresses: fc.constantFrom('', '', '', EP, '10.0.0.1', '172.20.0.0/24'),
  LocalPorts: list(portItem),
  RemotePorts: list(portItem),
  Priority: fc.integer({ min: 0, max: 4 }),
});

/** Parses what parseAcl accepts (overlapping lists and ports without port protocols are refused). */
function rulesOf(docs: unknown[]): AclRule[] {
  const out: AclRule[] = [];
  docs.forEach((d, i) => {
    const s: Record<string, unknown> = { ...(d as Record<string, unknown>), Direction: 'Out', Id: `r${i}` };
    const portsOk = (s.LocalPorts || s.RemotePorts) ? s.Protocols !== '256' && String(s.Protocols).split(',').every((p) => ['6', '17', '132'].includes(p)) : true;
    if (!portsOk) { s.LocalPorts = ''; s.RemotePorts = ''; }
    try {
      out.push(parseAcl(s, `rule ${i}`));
    } catch {
      // an overlapping list: parseAcl refuses it, so no endpoint can hold it
    }
  });
  return out;
}

const packet = fc.record({
  proto: fc.constantFrom(...PROTOS, 0, 2, 255),
  remote: fc.integer({ min: 0, max: 17 }).map((i) => ipToInt('10.0.0.0') + i),
  lport: fc.integer({ min: 0, max: 18 }),
  rport: fc.integer({ min: 0, max: 18 }),
});

test('one lookup in the disjoint boxes decides as the first matching rule does', () => {
  fc.assert(
    fc.property(fc.array(ruleDoc, { maxLength: 8 }), fc.array(packet, { minLength: 20, maxLength: 40 }), (docs, packets) => {
      const rules = orderAcls(rulesOf(docs));
      const { boxes, last } = compileAcls(rules, EP);
      for (const p of packets) {
        const want = firstMatch(rules, p);
        // the map first; what it does not hold, the default element (a rule matching everything)
        const got = lookupBox(boxes, [p.proto, p.remote, p.lport, p.rport])?.rule ?? last;
        assert.equal(got?.id, want?.id, `packet ${JSON.stringify(p)} in rules ${JSON.stringify(rules)}`);
      }
      const meet = (a: Box, b: Box) => a.every((s, d) => s[0] <= b[d]![1] && b[d]![0] <= s[1]);
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) assert.ok(!meet(boxes[i]!.box, boxes[j]!.box), 'no two boxes meet (nft refuses overlapping elements)');
      }
    }),
    { numRuns: 300 },
  );
});

test('elements: keys as nft prints them back, verdicts by action, the rule in the comment', () => {
  const rules = [
    parseAcl({ Id: 'web', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '80,8000-8080', RemoteAddresses: '192.0.2.0/24,198.51.100.7-198.51.100.9', Priority: 1 }, 'p'),
    parseAcl({ Id: 'mine', Action: 'Block', Direction: 'In', LocalAddresses: '10.9.9.9', Priority: 0 }, 'p'),
    parseAcl({ Id: 'lab', Action: 'Pass', Direction: 'In', Protocols: '47', Priority: 2 }, 'p'),
  ];
  const text = (e: NftElement) => `${e.key.join(' . ')} : ${e.value} # ${e.comment}`;
  assert.deepEqual(
    aclElements(EP, rules, 'In').elements.map(text),
    [
      `${EP} . tcp . 192.0.2.0/24 . 80 . 0-65535 : accept # acl web`,
      `${EP} . tcp . 192.0.2.0/24 . 8000-8080 . 0-65535 : accept # acl web`,
      `${EP} . tcp . 198.51.100.7-198.51.100.9 . 80 . 0-65535 : accept # acl web`,
      `${EP} . tcp . 198.51.100.7-198.51.100.9 . 8000-8080 . 0-65535 : accept # acl web`,
      `${EP} . 47 . 0.0.0.0/0 . 0-65535 . 0-65535 : return # acl lab`,
    ],
    'a rule for another local address makes nothing; each list item is a box of its own',
  );
  assert.equal(text(aclElements(EP, rules, 'In').fallback), `${EP} : drop # default in`);
  assert.deepEqual(aclElements(EP, rules, 'Out'), { elements: [], fallback: { key: [EP], value: 'drop', comment: 'default out' } });
});

test('a rule that matches everything is the default element, not the complement of the rules before it', () => {
  const rules = [
    parseAcl({ Id: 'smtp', Action: 'Block', Direction: 'Out', Protocols: '6', RemotePorts: '25', Priority: 5 }, 'p'),
    parseAcl({ Id: 'open', Action: 'Allow', Direction: 'Out', Priority: 60000 }, 'p'),
    parseAcl({ Id: 'never', Action: 'Block', Direction: 'Out', Protocols: '6', RemotePorts: '26', Priority: 65535 }, 'p'),
  ];
  const out = aclElements(EP, rules, 'Out');
  assert.deepEqual(out.elements.map((e) => e.comment), ['acl smtp'], 'one element for the Block; none for the rules after the one that matches everything');
  assert.deepEqual(out.fallback, { key: [EP], value: 'accept', comment: 'acl open' });
});

test('rules that would make too many elements are refused with a clear error', () => {
  const ports = Array.from({ length: 80 }, (_, i) => String(1000 + 2 * i)).join(',');
  const addrs = Array.from({ length: 60 }, (_, i) => `10.1.${i}.0/24`).join(',');
  const big = parseAcl({ Id: 'big', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: ports, RemoteAddresses: addrs }, 'p');
  assert.throws(
    () => aclElements(EP, [big], 'In'),
    (e: unknown) => e instanceof SyError && e.code === 'SY_INVALID_POLICY' && e.message.includes(`more than ${MAX_ACL_ELEMENTS} map elements`) && e.message.includes('"big"'),
  );
  // The longest lists parseAcl takes (4,096 characters each) would multiply to millions of boxes:
  // refused at once, before any is made.
  const many = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join(',');
  const huge = parseAcl({ Id: 'huge', Action: 'Allow', Direction: 'In', Protocols: '6,17', LocalPorts: many(600, (i) => String(10000 + 2 * i)), RemotePorts: many(600, (i) => String(20000 + 2 * i)), RemoteAddresses: many(250, (i) => `10.${i}.0.1`) }, 'p');
  assert.throws(() => aclElements(EP, [huge], 'In'), /"huge"/);

  // Rules of many boxes each that cut across each other: refused by the work they would cost.
  const interleaved = (offset: number) => many(700, (i) => String(1 + 2 * i + offset));
  const cut = [0, 1].map((r) => parseAcl({ Id: `cut${r}`, Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: interleaved(r), RemoteAddresses: many(5, (i) => `10.9.${i}.0/24`), Priority: r }, 'p'));
  assert.throws(() => compileAcls(cut, EP, 100_000), (e: unknown) => e instanceof SyError && e.code === 'SY_INVALID_POLICY' && /cut across each other too much/.test(e.message));
  // Rules wholly covered by one before them cost their own boxes, not what they would have cut.
  const covered = [parseAcl({ Id: 'tcp', Action: 'Block', Direction: 'In', Protocols: '6', Priority: 0 }, 'p')];
  for (let r = 1; r <= 200; r++) covered.push(parseAcl({ Id: `c${r}`, Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: many(60, (i) => String(1 + 2 * i + r)), RemotePorts: many(60, (i) => String(1 + 2 * i)), Priority: r }, 'p'));
  assert.deepEqual(aclElements(EP, covered, 'In').elements.map((e) => e.comment), ['acl tcp']);
  // Many rules of many disjoint boxes (4,000 elements) are compiled.
  const wide = Array.from({ length: 40 }, (_, r) => parseAcl({ Id: `w${r}`, Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: many(100, (i) => String(1 + r + 40 * i)), Priority: r }, 'p'));
  assert.equal(aclElements(EP, wide, 'In').elements.length, 4000);
});

test('subtract leaves disjoint pieces that cover the difference', () => {
  const a: Box = [[0, 255], [0, 100], [0, 10], [0, 10]];
  const b: Box = [[6, 6], [50, 60], [5, 5], [0, 10]];
  const pieces = subtract(a, b);
  const vol = (x: Box) => x.reduce((v, [lo, hi]) => v * (hi - lo + 1), 1);
  const meet = (x: Box, y: Box) => x.every((s, d) => s[0] <= y[d]![1] && y[d]![0] <= s[1]);
  const inside = (x: Box, y: Box) => x.every((s, d) => s[0] >= y[d]![0] && s[1] <= y[d]![1]);
  assert.ok(pieces.every((p) => inside(p, a) && !meet(p, b)), 'each piece is in a and not in b');
  assert.ok(pieces.every((p, i) => pieces.every((q, j) => i === j || !meet(p, q))), 'no two pieces meet');
  assert.equal(pieces.reduce((v, p) => v + vol(p), 0), vol(a) - vol(b), 'together they are a less b');
});

test('rules stored before a limit they now exceed: hostd starts, the endpoint fails closed, and says why', async () => {
  const h = await newTestHost();
  try {
    await h.svc.createNetwork({ Name: 'n', Type: 'NAT', Ipams: [{ Subnets: [{ IpAddressPrefix: '172.18.0.0/24' }] }] });
    const ep = await h.svc.createEndpoint({ Name: 'old', HostComputeNetwork: 'n', Policies: [{ Type: 'ACL', Settings: { Id: 'a', Action: 'Allow', Direction: 'In' } }] });
    // As if an older hostd had stored them: the record is edited on disk.
    const file = join(h.dir, 'endpoints', `${ep.ID}.json`);
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { record: { policies: { acls: AclRule[] } } };
    const many = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join(',');
    doc.record.policies.acls = [parseAcl({ Id: 'big', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: many(80, (i) => String(1000 + 2 * i)), RemoteAddresses: many(60, (i) => `10.1.${i}.0/24`) }, 'p')];
    writeFileSync(file, JSON.stringify(doc));
    const again = await newTestHost(new FakeDataPlane(), h.dir);
    assert.ok(again.warnings.some((w) => /^endpoint old: its ACL rules cannot be loaded, so it blocks every new flow until they change: .*"big"/.test(w)), again.warnings.join('\n'));
    const elements = (set: string) => again.fake.nft?.sets.find((s) => s.name === set)?.elements.map((e) => `${e.key.join(' . ')} : ${e.value}`) ?? [];
    assert.deepEqual(elements('acl_in'), [], 'none of its rules is loaded');
    assert.deepEqual([...elements('acl_in_default'), ...elements('acl_out_default')], ['172.18.0.2 : drop', '172.18.0.2 : drop'], 'it fails closed');
    // A change that brings the rules within the limit is taken.
    await again.svc.modifyEndpoint('old', { ResourceType: 'Policy', RequestType: 'Update', Settings: { Policies: [{ Type: 'ACL', Settings: { Id: 'small', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '80' } }] } });
    assert.deepEqual(elements('acl_in'), ['172.18.0.2 . tcp . 0.0.0.0/0 . 80 . 0-65535 : accept']);
  } finally {
    h.cleanup();
  }
});
