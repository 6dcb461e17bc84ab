/**
 * hostd checks at start what every network needs (tools, nftables families) and refuses to start
 * without it, naming what is missing; `status` lists which modes this host supports.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { requireRoot, World, REPO } from './world.js';
import { run } from '../../src/dataplane/run.js';
import { probeCapabilities } from '../../src/dataplane/capabilities.js';

describe('host capabilities', () => {
  const w = new World('caps');
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  it('this host has what every mode hostd serves needs, and the probe leaves no table behind', async () => {
    requireRoot();
    const ns = await w.addNs('h');
    const caps = await run(['ip', 'netns', 'exec', ns, process.execPath, '--input-type=module', '-e',
      `import { probeCapabilities } from ${JSON.stringify(join(REPO, 'dist/src/dataplane/capabilities.js'))}; console.log(JSON.stringify(await probeCapabilities()));`]);
    const got = JSON.parse(caps.stdout) as Awaited<ReturnType<typeof probeCapabilities>>;
    assert.deepEqual(got.missing, []);
    assert.deepEqual(got.modes.filter((m) => m.Supported).map((m) => m.Type), ['NAT', 'Transparent', 'L2Bridge', 'L2Tunnel', 'Overlay']);
    assert.equal((await run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables'])).stdout.trim(), '');
  });

  it('hostd without the tools it needs refuses to start and says which', async () => {
    const ns = w.nsName('h');
    const dir = join(w.dir, 'sock');
    await run(['mkdir', '-m', '700', dir]);
    const res = await run(['nsenter', `--net=/run/netns/${ns}`, '--', process.execPath, join(REPO, 'bin/switchyard'), 'hostd', '--state-dir', join(w.dir, 'state'), '--socket', join(dir, 'h.sock')], {
      env: { ...process.env, PATH: '/nonexistent' },
      okExitCodes: [1],
      timeoutMs: 20_000,
    }).catch((e: Error) => ({ exitCode: -1, stdout: '', stderr: e.message }));
    assert.equal(res.exitCode, 1, res.stderr);
    assert.match(res.stderr, /hostd cannot run on this host: ip \(iproute2\).*nft \(nftables\)/);
  });
});
