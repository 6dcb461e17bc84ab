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
});
