/**
 * The two ways hostd's scripts reach nftables (src/dataplane/nft-lib.ts): libnftables inside the
 * process, and `nft` processes where the library cannot be loaded. Each runs in a child node inside a
 * namespace of this test (the library acts on its caller's namespace), doing the same things, which
 * must end the same: a transaction applied, a listing in JSON, a missing table answered, a bad script
 * refused whole with nft's own message.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { REPO, requireRoot, World } from './world.js';

const SCRIPT = `
import { Nft } from ${JSON.stringify(join(REPO, 'dist/src/dataplane/nft-lib.js'))};
const nft = new Nft();
const out = { via: nft.via };
await nft.apply('add table inet sytest\\nadd set inet sytest s { type ipv4_addr; }\\nadd chain inet sytest c\\nadd rule inet sytest c ip saddr @s counter accept comment "x"\\n');
await nft.apply('add element inet sytest s { 192.0.2.7 }\\n');
const listed = await nft.command('list table inet sytest');
out.listed = listed.ok;
out.elements = JSON.parse(listed.stdout).nftables.filter((o) => o.set).map((o) => o.set.elem);
out.missing = (await nft.command('list table inet nosuchtable')).ok;
try {
  await nft.apply('add element inet sytest s { 192.0.2.8 }\\nadd rule inet sytest c tcp dport 99999 accept\\n');
  out.bad = 'applied';
} catch (e) {
  out.bad = e.code + ' ' + e.message;
}
out.after = JSON.parse((await nft.command('list set inet sytest s')).stdout).nftables.filter((o) => o.set).map((o) => o.set.elem);
await nft.command('delete table inet sytest');
out.gone = !(await nft.command('list table inet sytest')).ok;
console.log(JSON.stringify(out));
`;

/**
 * The ACL maps as hostd plans them (plan/acl-maps.ts: ranges, prefixes, protocol ranges, every
 * verdict), applied, listed and planned again: nothing to change (a key read back in another
 * spelling would be deleted and added on every resync, and its counter zeroed), and `get element`
 * finds each planned key with its counter.
 */
const ACL_SCRIPT = `
import { Nft } from ${JSON.stringify(join(REPO, 'dist/src/dataplane/nft-lib.js'))};
import { aclMapElements, nftBase } from ${JSON.stringify(join(REPO, 'dist/src/plan/host-plan.js'))};
import { parseAcl } from ${JSON.stringify(join(REPO, 'dist/src/model/acl.js'))};
import { elementKey } from ${JSON.stringify(join(REPO, 'dist/src/plan/nft-table.js'))};
import { diffNft, emptyCurrent, parseElementText, parseNftJson } from ${JSON.stringify(join(REPO, 'dist/src/dataplane/nft-diff.js'))};
const nft = new Nft();
const docs = [
  { Id: 'web', Action: 'Allow', Direction: 'In', Protocols: '6', LocalPorts: '80,8000-8080', RemoteAddresses: '192.0.2.0/24,198.51.100.7-198.51.100.9', Priority: 100 },
  { Id: 'no-smtp', Action: 'Block', Direction: 'Out', Protocols: '6', RemotePorts: '25', Priority: 100 },
  { Id: 'dns', Action: 'Allow', Direction: 'Out', Protocols: '17,6', RemotePorts: '53', Priority: 200 },
  { Id: 'lab', Action: 'Pass', Direction: 'Out', RemoteAddresses: '10.50.0.0/16', Priority: 300 },
  { Id: 'gre', Action: 'Allow', Direction: 'In', Protocols: '47,132', RemoteAddresses: '0.0.0.0-9.255.255.255', Priority: 400 },
];
const rules = docs.map((d, i) => parseAcl(d, 'Policies[' + i + ']'));
const table = nftBase();
const eps = [{ id: 'ep-a', ip: '172.20.0.2' }, { id: 'ep-b', ip: '172.20.0.3' }];
for (const ep of eps) for (const [set, els] of aclMapElements(ep, rules)) table.sets.find((s) => s.name === set).elements.push(...els);
await nft.apply(diffNft(table, emptyCurrent()));
const types = new Map(table.sets.map((s) => [s.name, s.keyTypes]));
const read = parseNftJson((await nft.command('list table inet ' + table.name)).stdout, (n) => types.get(n));
const out = { planned: table.sets.filter((s) => s.name.startsWith('acl_')).reduce((n, s) => n + s.elements.length, 0), again: diffNft(table, read) };
const mine = [...aclMapElements(eps[0], rules)].filter(([set]) => set !== 'acl_eps');
out.got = [];
for (const [set, els] of mine) {
  const res = await nft.command('get element inet ' + table.name + ' ' + set + ' { ' + els.map(elementKey).join(', ') + ' }', true);
  out.got.push(...parseElementText(set, res.stdout).map((c) => c.set + ' ' + c.owner + ' ' + c.comment + ' ' + c.packets));
}
out.want = mine.flatMap(([set, els]) => els.map((e) => set + ' ' + eps[0].ip + ' ' + e.comment + ' 0'));
await nft.apply('delete table inet ' + table.name);
console.log(JSON.stringify(out));
`;

describe('nftables from hostd: libnftables and nft processes agree', () => {
  const w = new World('nftl');
  let ns: string;
  before(async () => {
    requireRoot();
    ns = await w.addNs('n');
  });
  after(() => w.cleanup());

  const runIn = async (mode: 'lib' | 'exec') => {
    const argv = ['env', ...(mode === 'exec' ? ['SWITCHYARD_NFT=exec'] : []), process.execPath, '--input-type=module', '-e', SCRIPT];
    return JSON.parse((await w.exec(ns, argv)).stdout) as Record<string, unknown>;
  };

  it('does the same through either way', async () => {
    const lib = await runIn('lib');
    const exec = await runIn('exec');
    assert.equal(lib['via'], 'libnftables', 'the library loads on this machine');
    assert.equal(exec['via'], 'nft processes');
    for (const r of [lib, exec]) {
      assert.equal(r['listed'], true);
      assert.deepEqual(r['elements'], [['192.0.2.7']]);
      assert.equal(r['missing'], false, 'a missing table is an answer, not an error');
      assert.match(String(r['bad']), /^SY_KERNEL "nft -f -" failed: (\/dev\/stdin:[0-9:-]+ )?Error: Service out of range/);
      assert.deepEqual(r['after'], [['192.0.2.7']], 'a refused script changes nothing: it is one transaction');
      assert.equal(r['gone'], true);
    }
  });

  it('reads the ACL maps back as planned, both ways: a resync changes nothing', async () => {
    for (const mode of ['lib', 'exec'] as const) {
      const argv = ['env', ...(mode === 'exec' ? ['SWITCHYARD_NFT=exec'] : []), process.execPath, '--input-type=module', '-e', ACL_SCRIPT];
      const r = JSON.parse((await w.exec(ns, argv)).stdout) as { planned: number; again: string; got: string[]; want: string[] };
      assert.ok(r.planned > 20, `${mode}: ${r.planned} elements planned`);
      assert.equal(r.again, '', `${mode}: what the kernel holds is what was planned`);
      assert.deepEqual(r.got.sort(), r.want.sort(), `${mode}: every planned key is found with its counter`);
    }
  });
});
