/**
 * The nft transaction from "table wanted" and "table there is": creation from nothing, nothing to do,
 * one element for one more mapping whatever the size of the table, safe ordering on removal, and
 * reading the kernel's `nft -j` output back into comparable keys and values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { currentOf, diffNft, emptyCurrent, parseElementCounters, parseElementText, parseNftJson, ruleTag } from '../../src/dataplane/nft-diff.js';
import type { EndpointRecord, NetworkRecord, PortMapping } from '../../src/model/records.js';
import { planNftTable } from '../../src/plan/host-plan.js';
import type { NftTable } from '../../src/plan/nft-table.js';
import { intToIp, ipToInt } from '../../src/model/ipv4.js';

const NET_A = 'a1a1a1a1-0000-4000-8000-000000000001';
const NET_B = 'b2b2b2b2-0000-4000-8000-000000000002';

function network(id: string, subnet: string): NetworkRecord {
  const gateway = intToIp(ipToInt(subnet.split('/')[0]!) + 1);
  return { id, name: id, type: 'NAT', subnet, gateway, dns: { search: [], servers: [], options: [] }, flags: 0, policies: [], createdAt: '' };
}

function endpoint(n: number, networkId: string, ip: string, externalPort: number): EndpointRecord {
  const pm: PortMapping = { protocol: 6, internalPort: 80, externalPort, count: 1, flags: 0, ephemeral: false };
  const id = `${n.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
  return { id, name: `ep${n}`, networkId, ip, mac: '02:53:00:00:00:00', ifName: 'eth0', portMappings: [pm], policies: { acls: [], routes: [] }, createdAt: '' };
}

const lines = (script: string) => script.split('\n').filter((l) => l !== '');
const indexOf = (ls: string[], re: RegExp) => ls.findIndex((l) => re.test(l));
const lastIndexOf = (ls: string[], re: RegExp) => ls.length - 1 - [...ls].reverse().findIndex((l) => re.test(l));

const twoNetworks = () => planNftTable(
  [network(NET_A, '172.18.0.0/24'), network(NET_B, '172.19.0.0/24')],
  [endpoint(1, NET_A, '172.18.0.2', 8080), endpoint(2, NET_B, '172.19.0.2', 8081)],
);

test('from nothing: the table, its sets and chains, then rules and elements', () => {
  const ls = lines(diffNft(twoNetworks(), emptyCurrent()));
  assert.equal(ls[0], 'add table inet switchyard { comment "managed by switchyard hostd, do not edit"; }');
  for (const s of ['map inet switchyard pm_any', 'map inet switchyard pm_addr', 'set inet switchyard nat_subnets', 'map inet switchyard fwd_into_net', 'map inet switchyard post_into_net']) {
    assert.ok(ls.some((l) => l.startsWith(`add ${s} { type `)), `declares ${s}`);
  }
  assert.ok(ls.includes('add chain inet switchyard nat-prerouting { type nat hook prerouting priority dstnat; policy accept; }'));
  assert.ok(ls.includes('add chain inet switchyard net-b2b2b2b2-in'));
  // Each rule carries a tag (its own comment, or a hash of its text) that the full resync compares.
  assert.ok(ls.some((l) => /^add rule inet switchyard portmaps dnat ip to meta l4proto \. th dport map @pm_any comment "#[0-9a-f]{12}"$/.test(l)));
  assert.ok(ls.includes('add element inet switchyard pm_any { tcp . 8080 comment "ep 00000001-0000-4000-8000-000000000000" : 172.18.0.2 . 80, tcp . 8081 comment "ep 00000002-0000-4000-8000-000000000000" : 172.19.0.2 . 80 }'));
  assert.ok(ls.includes('add element inet switchyard fwd_into_net { "sy-br-a1a1a1a1" : jump net-a1a1a1a1-in, "sy-br-b2b2b2b2" : jump net-b2b2b2b2-in }'));
  // Sets exist before the rules that name them, chains before the verdicts that jump to them.
  assert.ok(lastIndexOf(ls, /^add (map|set|chain) /) < indexOf(ls, /^add rule /));
  assert.ok(lastIndexOf(ls, /^add chain /) < indexOf(ls, /^add element /));
  assert.equal(indexOf(ls, /^(flush|delete) /), -1);
});

test('the table as last applied: nothing to do', () => {
  const t = twoNetworks();
  assert.equal(diffNft(t, currentOf(t)), '');
});

test('one more mapping on a table of 10,000 is one element, no chain flush', () => {
  const net = network(NET_A, '10.1.0.0/16');
  const eps = Array.from({ length: 10_000 }, (_, i) => endpoint(i + 1, NET_A, intToIp(ipToInt('10.1.0.2') + i), 10_000 + i));
  const big = planNftTable([net], eps);
  assert.equal(big.sets.find((s) => s.name === 'pm_any')!.elements.length, 10_000);
  const cur = currentOf(big);
  const more = planNftTable([net], [...eps, endpoint(10_001, NET_A, '10.1.100.100', 30_000)]);
  const ls = lines(diffNft(more, cur));
  assert.deepEqual(ls, ['add element inet switchyard pm_any { tcp . 30000 comment "ep 00002711-0000-4000-8000-000000000000" : 10.1.100.100 . 80 }']);
  // And taking it away again is one deletion.
  assert.deepEqual(lines(diffNft(big, currentOf(more))), ['delete element inet switchyard pm_any { tcp . 30000 }']);
});

test('a changed mapping target is deleted and added again in the same transaction', () => {
  const net = network(NET_A, '172.18.0.0/24');
  const before = planNftTable([net], [endpoint(1, NET_A, '172.18.0.2', 8080)]);
  const after = planNftTable([net], [endpoint(1, NET_A, '172.18.0.3', 8080)]);
  assert.deepEqual(lines(diffNft(after, currentOf(before))), [
    'delete element inet switchyard pm_any { tcp . 8080 }',
    'add element inet switchyard pm_any { tcp . 8080 comment "ep 00000001-0000-4000-8000-000000000000" : 172.18.0.3 . 80 }',
  ]);
});

test('removing a network deletes its elements before its chains, and flushes each chain first', () => {
  const cur = currentOf(twoNetworks());
  const oneLeft = planNftTable([network(NET_A, '172.18.0.0/24')], [endpoint(1, NET_A, '172.18.0.2', 8080)]);
  const ls = lines(diffNft(oneLeft, cur));
  assert.deepEqual(ls.filter((l) => !l.startsWith('delete element ')), [
    'flush chain inet switchyard net-b2b2b2b2-in',
    'delete chain inet switchyard net-b2b2b2b2-in',
    'flush chain inet switchyard net-b2b2b2b2-post',
    'delete chain inet switchyard net-b2b2b2b2-post',
  ]);
  for (const l of [
    'delete element inet switchyard pm_any { tcp . 8081 }',
    'delete element inet switchyard nat_subnets { 172.19.0.0/24 }',
    'delete element inet switchyard fwd_into_net { "sy-br-b2b2b2b2" }',
    'delete element inet switchyard post_into_net { "sy-br-b2b2b2b2" }',
  ]) {
    assert.ok(ls.includes(l), l);
  }
  // The verdicts jumping to a chain go before the chain does (nft refuses to delete a chain in use).
  assert.ok(lastIndexOf(ls, /^delete element /) < indexOf(ls, /^delete chain /));
});

/** Captured from `nft -j list table inet switchyard` (nftables 1.0.6). */
const NFT_JSON = `{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family":"inet","name":"switchyard","handle":1}}, {"chain": {"family":"inet","table":"switchyard","name":"portmaps","handle":2}}, {"map": {"family": "inet", "name": "pm_any", "table": "switchyard", "type": ["inet_proto", "inet_service"], "handle": 9, "map": "ipv4_addr . inet_service", "elem": [[{"elem": {"val": {"concat": ["tcp", 8080]}, "comment": "ep 1234"}}, {"concat": ["172.18.0.2", 80]}]]}}, {"map": {"family": "inet", "name": "fwd_into_net", "table": "switchyard", "type": "ifname", "handle": 10, "map": "verdict", "elem": [["sy-br-abc", {"jump": {"target": "net-abc-in"}}]]}}, {"set": {"family": "inet", "name": "nat_subnets", "table": "switchyard", "type": "ipv4_addr", "handle": 12, "flags": ["interval"], "elem": [{"prefix": {"addr": "172.18.0.0", "len": 24}}]}}]}`;

/** The table the captured sample realises, as the planner would want it. */
const SAMPLE_TABLE: NftTable = {
  family: 'inet',
  name: 'switchyard',
  comment: 'managed by switchyard hostd, do not edit',
  sets: [
    { name: 'pm_any', keyTypes: ['inet_proto', 'inet_service'], valueType: 'ipv4_addr . inet_service', elements: [{ key: ['tcp', '8080'], value: '172.18.0.2 . 80', comment: 'ep 1234' }] },
    { name: 'fwd_into_net', keyTypes: ['ifname'], valueType: 'verdict', elements: [{ key: ['"sy-br-abc"'], value: 'jump net-abc-in' }] },
    { name: 'nat_subnets', keyTypes: ['ipv4_addr'], flags: ['interval'], elements: [{ key: ['172.18.0.0/24'] }] },
  ],
  chains: [{ name: 'portmaps', rules: ['dnat ip to meta l4proto . th dport map @pm_any'] }],
};

const keyTypesOf = (name: string) => SAMPLE_TABLE.sets.find((s) => s.name === name)?.keyTypes;

test('parseNftJson reads keys and values of real nft -j output in the planner\'s syntax', () => {
  const cur = parseNftJson(NFT_JSON, keyTypesOf);
  assert.equal(cur.exists, true);
  assert.deepEqual([...cur.chains], [['portmaps', { tags: [] }]]);
  assert.deepEqual([...cur.sets.get('pm_any')!], [['tcp . 8080', '172.18.0.2 . 80 # ep 1234']], 'the value, and the comment: a comment changed is an element changed');
  assert.deepEqual([...cur.sets.get('fwd_into_net')!], [['"sy-br-abc"', 'jump net-abc-in']]);
  assert.deepEqual([...cur.sets.get('nat_subnets')!], [['172.18.0.0/24', '']]);
  assert.deepEqual([...cur.maps].sort(), ['fwd_into_net', 'pm_any']);
});

test('a kernel that holds the wanted elements gets no element changes, only its emptied chain refilled', () => {
  const ls = lines(diffNft(SAMPLE_TABLE, parseNftJson(NFT_JSON, keyTypesOf)));
  assert.deepEqual(ls, ['flush chain inet switchyard portmaps', `add rule inet switchyard portmaps dnat ip to meta l4proto . th dport map @pm_any comment "${ruleTag('dnat ip to meta l4proto . th dport map @pm_any')}"`]);
});

test('a chain whose rules the kernel holds (by their tags) is left alone, so its counters survive the resync', () => {
  const rule = { family: 'inet', table: 'switchyard', chain: 'portmaps', comment: ruleTag('dnat ip to meta l4proto . th dport map @pm_any'), expr: [] };
  const withRule = NFT_JSON.replace(/\]\}$/, `, {"rule": ${JSON.stringify(rule)}}]}`);
  assert.equal(diffNft(SAMPLE_TABLE, parseNftJson(withRule, keyTypesOf)), '');
  const reordered = { ...SAMPLE_TABLE, chains: [{ name: 'portmaps', rules: ['counter accept comment "acl x"', 'dnat ip to meta l4proto . th dport map @pm_any'] }] };
  assert.match(diffNft(reordered, parseNftJson(withRule, keyTypesOf)), /^flush chain inet switchyard portmaps$/m, 'a missing rule refills the chain');
});

test('a rule changed under the same comment (an ACL Id with new settings) is seen by the full resync', () => {
  const old = 'ip daddr 10.0.0.2 meta l4proto tcp th dport 80 counter accept comment "acl web"';
  const rule = { family: 'inet', table: 'switchyard', chain: 'portmaps', comment: ruleTag(old), expr: [] };
  const kernel = parseNftJson(NFT_JSON.replace(/\]\}$/, `, {"rule": ${JSON.stringify(rule)}}]}`), keyTypesOf);
  const now = { ...SAMPLE_TABLE, chains: [{ name: 'portmaps', rules: [old.replace('dport 80', 'dport 81')] }] };
  assert.match(diffNft(now, kernel), /^flush chain inet switchyard portmaps$/m);
  assert.equal(diffNft({ ...SAMPLE_TABLE, chains: [{ name: 'portmaps', rules: [old] }] }, kernel), '');
});

test('a stale verdict map goes before the stale chains it jumps to (nft refuses the other order)', () => {
  const cur = currentOf({ ...SAMPLE_TABLE, sets: [...SAMPLE_TABLE.sets, { name: 'acl_in', keyTypes: ['ipv4_addr'], valueType: 'verdict', elements: [{ key: ['10.0.0.2'], value: 'jump ep-x-in' }] }], chains: [...SAMPLE_TABLE.chains, { name: 'ep-x-in', rules: ['counter drop'] }] });
  const ls = lines(diffNft(SAMPLE_TABLE, cur));
  assert.ok(indexOf(ls, /^delete map inet switchyard acl_in$/) < indexOf(ls, /^delete chain inet switchyard ep-x-in$/), ls.join('\n'));
});

/**
 * Captured from `nft -j -p list map` and `nft get element` (nftables 1.0.6) on ACL maps; only the
 * counters' numbers were changed. get element prints no counter or comment line of the map, and puts
 * short elements on one line.
 */
const ACL_JSON = `{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"map": {"family": "inet", "name": "acl_out", "table": "switchyard", "type": ["ipv4_addr", "inet_proto", "ipv4_addr", "inet_service", "inet_service"], "handle": 2, "map": "verdict", "flags": ["interval"], "elem": [[{"elem": {"val": {"concat": ["10.0.0.2", 6, {"prefix": {"addr": "0.0.0.0", "len": 0}}, {"range": [0, 65535]}, 80]}, "comment": "acl a", "counter": {"packets": 3, "bytes": 180}}}, {"return": null}], [{"elem": {"val": {"concat": ["10.0.0.2", {"range": [7, 16]}, {"range": ["10.0.1.5", "10.0.1.9"]}, {"range": [0, 65535]}, {"range": [0, 65535]}]}, "comment": "acl b", "counter": {"packets": 1, "bytes": 60}}}, {"drop": null}], [{"elem": {"val": {"concat": ["10.0.0.3", 47, "1.2.3.4", {"range": [0, 65535]}, {"range": [0, 65535]}]}, "comment": "acl c", "counter": {"packets": 0, "bytes": 0}}}, {"accept": null}]], "stmt": [{"counter": null}]}}, {"map": {"family": "inet", "name": "acl_in_default", "table": "switchyard", "type": "ipv4_addr", "handle": 3, "map": "verdict", "elem": [[{"elem": {"val": "10.0.0.2", "comment": "default in", "counter": {"packets": 9, "bytes": 540}}}, {"drop": null}]], "stmt": [{"counter": null}]}}]}`;
const ACL_TEXT = `table inet switchyard {
	map acl_out {
		type ipv4_addr . inet_proto . ipv4_addr . inet_service . inet_service : verdict
		flags interval
		elements = { 10.0.0.2 . tcp . 0.0.0.0/0 . 0-65535 . 80 counter packets 3 bytes 180 comment "acl a" : return,
			     10.0.0.2 . 7-16 . 10.0.1.5-10.0.1.9 . 0-65535 . 0-65535 counter packets 1 bytes 60 comment "acl b" : drop }
	}
}
`;

test('ACL map listings read back in the planner\'s syntax: numeric protocols, ranges, verdicts, comments', () => {
  const cur = parseNftJson(ACL_JSON, () => ['ipv4_addr', 'inet_proto', 'ipv4_addr', 'inet_service', 'inet_service']);
  assert.deepEqual([...cur.sets.get('acl_out')!], [
    ['10.0.0.2 . tcp . 0.0.0.0/0 . 0-65535 . 80', 'return # acl a'],
    ['10.0.0.2 . 7-16 . 10.0.1.5-10.0.1.9 . 0-65535 . 0-65535', 'drop # acl b'],
    ['10.0.0.3 . 47 . 1.2.3.4 . 0-65535 . 0-65535', 'accept # acl c'],
  ]);
});

const DEFAULT_TEXT = `table inet switchyard {
\tmap acl_out_default {
\t\ttype ipv4_addr : verdict
\t\telements = { 10.0.0.2 counter packets 9 bytes 540 comment "default out" : drop, 10.0.0.3 counter packets 0 bytes 0 comment "acl open" : accept }
\t}
}
`;

test('element counters: every counted ACL element, owned by its key\'s first part, from JSON and from text', () => {
  const all = parseElementCounters(ACL_JSON);
  assert.deepEqual(all, [
    { set: 'acl_out', owner: '10.0.0.2', comment: 'acl a', packets: 3, bytes: 180 },
    { set: 'acl_out', owner: '10.0.0.2', comment: 'acl b', packets: 1, bytes: 60 },
    { set: 'acl_out', owner: '10.0.0.3', comment: 'acl c', packets: 0, bytes: 0 },
    { set: 'acl_in_default', owner: '10.0.0.2', comment: 'default in', packets: 9, bytes: 540 },
  ]);
  assert.deepEqual(parseElementText('acl_out', ACL_TEXT), all.slice(0, 2), 'get element (text) reads as the listing does');
  assert.deepEqual(parseElementText('acl_out_default', DEFAULT_TEXT), [
    { set: 'acl_out_default', owner: '10.0.0.2', comment: 'default out', packets: 9, bytes: 540 },
    { set: 'acl_out_default', owner: '10.0.0.3', comment: 'acl open', packets: 0, bytes: 0 },
  ]);
});
