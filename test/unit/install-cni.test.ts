/**
 * `switchyard install-cni DIR` through the real CLI, and the plugin on both runtimes it supports:
 * the installed executable (compiled by Bun) and the Node fallback, each answering VERSION and,
 * with no hostd behind the socket, code 11 at once. No root, no hostd.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/dataplane/run.js';

const REPO = process.cwd();
const dir = mkdtempSync(join(tmpdir(), 'switchyard-install-cni-'));

async function plugin(argv: string[], command: string, stdin: string) {
  const res = await run(argv, {
    stdin,
    env: { PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_PATH: dir },
    okExitCodes: [1],
  });
  return { exit: res.exitCode, json: JSON.parse(res.stdout) as Record<string, unknown> };
}

describe('switchyard install-cni and the plugin runtimes', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));
  const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'switchyard', socket: join(dir, 'no-hostd.sock') });

  it('installs an executable named switchyard, refusing a relative directory', async () => {
    const r = await run([process.execPath, join(REPO, 'bin/switchyard'), 'install-cni', join(dir, 'bin')]);
    assert.match(r.stdout, /installed .*\/bin\/switchyard/);
    accessSync(join(dir, 'bin/switchyard'), constants.X_OK);
    // the executable Bun compiled (setup.sh builds it when npm's bun installed), else the Node launcher
    const head = readFileSync(join(dir, 'bin/switchyard')).subarray(0, 4).toString('latin1');
    if (existsSync(join(REPO, 'dist/cni/switchyard'))) assert.equal(head, '\x7fELF');
    else assert.equal(head.slice(0, 3), '#!/');
    const bad = await run([process.execPath, join(REPO, 'bin/switchyard'), 'install-cni', 'relative/dir'], { okExitCodes: [1, 2] });
    assert.notEqual(bad.exitCode, 0);
  });

  for (const [what, argv] of [
    ['installed', () => [join(dir, 'bin/switchyard')]],
    ['Node fallback', () => [process.execPath, join(REPO, 'dist/src/cni/main.js')]],
  ] as const) {
    it(`${what}: VERSION, and code 11 at once without hostd`, async () => {
      const v = await plugin(argv(), 'VERSION', '{"cniVersion":"1.0.0"}');
      assert.equal(v.exit, 0);
      assert.equal(v.json.cniVersion, '1.0.0');
      assert.ok((v.json.supportedVersions as string[]).includes('1.1.0'));
      const del = await plugin(argv(), 'DEL', conf);
      assert.equal(del.exit, 1);
      assert.equal(del.json.code, 11);
      assert.equal(del.json.cniVersion, '1.0.0');
    });
  }
});
