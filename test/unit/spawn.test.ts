/**
 * run() keeps one contract whoever starts the command: hostd's command helper (a Bun process,
 * spawner.ts) or Node itself. The same cases run both ways, on real commands; and a helper that dies
 * fails the commands it held with SY_KERNEL and leaves run() to Node. No root needed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SyError } from '../../src/errors.js';
import { run, stopCommandHelper, useCommandHelper } from '../../src/dataplane/run.js';
import { Spawner } from '../../src/dataplane/spawner-client.js';

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: SyError) => e.code);

/** Bun is an npm dependency, but setup.sh goes on without it when its install failed */
const noBun = existsSync(join(process.cwd(), 'node_modules/bun/bin/bun.exe')) ? false : 'npm\'s bun package did not install';

function contract(way: string, setup: () => Promise<void>, skip: string | false = false) {
  describe(`run() with commands started by ${way}`, { skip }, () => {
    it('hands stdin over and returns stdout, stderr and the exit code', async () => {
      await setup();
      assert.deepEqual(await run(['cat'], { stdin: 'one\ntwo\n' }), { stdout: 'one\ntwo\n', stderr: '', exitCode: 0 });
      const listed = await run(['ls', '/nonexistent-switchyard'], { okExitCodes: [2] });
      assert.equal(listed.exitCode, 2);
      assert.match(listed.stderr, /nonexistent-switchyard/);
    });

    it('fails with SY_KERNEL carrying argv, stdin and stderr; SY_TIMEOUT when it hangs', async () => {
      const e = await run(['ls', '/nonexistent-switchyard'], { stdin: 'x' }).catch((err: SyError) => err);
      assert.ok(e instanceof SyError && e.code === 'SY_KERNEL', String(e));
      assert.deepEqual(e.command?.argv, ['ls', '/nonexistent-switchyard']);
      assert.equal(e.command?.stdin, 'x');
      assert.match(e.command?.stderr ?? '', /nonexistent-switchyard/);
      assert.equal(await code(run(['/nonexistent-switchyard/tool'])), 'SY_KERNEL');
      const t0 = Date.now();
      assert.equal(await code(run(['sleep', '10'], { timeoutMs: 200 })), 'SY_TIMEOUT');
      assert.ok(Date.now() - t0 < 5000, 'killed, not waited for');
    });

    it('passes the environment it is given, and runs commands side by side', async () => {
      assert.equal((await run(['env'], { env: { SWITCHYARD_TEST: 'yes' } })).stdout, 'SWITCHYARD_TEST=yes\n');
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => run(['cat'], { stdin: `command ${i}` })));
      assert.deepEqual(
        many.map((r) => r.stdout),
        Array.from({ length: 20 }, (_, i) => `command ${i}`),
      );
    });
  });
}

contract(
  'the command helper (Bun)',
  async () => {
    assert.ok(useCommandHelper(), 'the helper starts');
  },
  noBun,
);
contract('Node itself', () => stopCommandHelper());

describe('a command helper that dies', { skip: noBun }, () => {
  const s = new Spawner();
  after(() => s.stop());

  it('fails the commands it held; the next ones are not given to it', async () => {
    assert.ok(s.start(), 'the helper starts');
    const held = s.run({ argv: ['sleep', '10'], stdin: '', timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 100));
    process.kill(s.pid!, 'SIGKILL');
    const o = await held;
    assert.ok('spawnError' in o && /killed by SIGKILL/.test(o.spawnError), JSON.stringify(o));
    assert.equal(s.alive, false);
  });
});
