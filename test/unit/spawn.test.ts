/**
 * run() keeps one contract however the command is started: with posix_spawn (posix-spawn.ts, the
 * default) or with Node's spawn (the fallback). The same cases run both ways, on real commands,
 * including what the child inherits (descriptors, signal dispositions and mask) and that every
 * child is reaped. No root needed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { SyError } from '../../src/errors.js';
import { run, spawnMethod, useNodeSpawn } from '../../src/dataplane/run.js';

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: SyError) => e.code);

/** this process's children that have not been reaped (zombies included) */
const children = () => readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim();

function contract(way: 'posix_spawn' | 'node') {
  describe(`run() with commands started by ${way}`, () => {
    before(() => useNodeSpawn(way === 'node'));
    after(() => useNodeSpawn(false));

    it('is the way in use', () => assert.equal(spawnMethod(), way));

    it('hands stdin over and returns stdout, stderr and the exit code', async () => {
      assert.deepEqual(await run(['cat'], { stdin: 'one\ntwo\n' }), { stdout: 'one\ntwo\n', stderr: '', exitCode: 0 });
      const listed = await run(['ls', '/nonexistent-switchyard'], { okExitCodes: [2] });
      assert.equal(listed.exitCode, 2);
      assert.match(listed.stderr, /nonexistent-switchyard/);
    });

    it('carries a megabyte each way', async () => {
      const big = 'x'.repeat(1 << 20);
      assert.equal((await run(['cat'], { stdin: big })).stdout.length, big.length);
      assert.equal((await run(['head', '-c', '1048576', '/dev/zero'])).stdout.length, 1 << 20);
      assert.equal((await run(['sh', '-c', 'head -c 1048576 /dev/zero >&2'])).stderr.length, 1 << 20);
    });

    it('fails with SY_KERNEL carrying argv, stdin and stderr; SY_TIMEOUT when it hangs', async () => {
      const e = await run(['ls', '/nonexistent-switchyard'], { stdin: 'x' }).catch((err: SyError) => err);
      assert.ok(e instanceof SyError && e.code === 'SY_KERNEL', String(e));
      assert.deepEqual(e.command?.argv, ['ls', '/nonexistent-switchyard']);
      assert.equal(e.command?.stdin, 'x');
      assert.match(e.command?.stderr ?? '', /nonexistent-switchyard/);
      const missing = await run(['/nonexistent-switchyard/tool']).catch((err: SyError) => err);
      assert.ok(missing instanceof SyError && missing.code === 'SY_KERNEL', String(missing));
      assert.match(missing.message, /nonexistent-switchyard\/tool/);
      const t0 = Date.now();
      assert.equal(await code(run(['sleep', '10'], { timeoutMs: 200 })), 'SY_TIMEOUT');
      assert.ok(Date.now() - t0 < 5000, 'killed, not waited for');
    });

    it('passes the environment it is given, and runs commands side by side', async () => {
      assert.equal((await run(['env'], { env: { SWITCHYARD_TEST: 'yes' } })).stdout, 'SWITCHYARD_TEST=yes\n');
      const many = await Promise.all(Array.from({ length: 40 }, (_, i) => run(['cat'], { stdin: `command ${i}` })));
      assert.deepEqual(
        many.map((r) => r.stdout),
        Array.from({ length: 40 }, (_, i) => `command ${i}`),
      );
    });

    it('gives the child stdin, stdout and stderr only, every signal at its default and none blocked', async () => {
      // Beyond 0-2: what this process itself inherited without close-on-exec (from whoever started
      // the tests), and the one ls opens to list the directory.
      const inherited = readdirSync('/proc/self/fd').filter((fd) => {
        if (Number(fd) < 3) return false;
        try {
          return (parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8) & 0o2000000) === 0;
        } catch {
          return false; // the descriptor readdirSync itself used, closed by now
        }
      });
      const seen = (await run(['ls', '/proc/self/fd'])).stdout.trim().split('\n');
      const extra = seen.filter((fd) => !['0', '1', '2', ...inherited].includes(fd));
      assert.equal(extra.length, 1, `the child holds ${seen.join(' ')}; inherited by the tests: ${inherited.join(' ')}`);
      const status = (await run(['cat', '/proc/self/status'])).stdout;
      assert.match(status, /^SigBlk:\s+0+$/m);
      // Signals 1-31 (Node ignores SIGPIPE; the command must not). glibc's posix_spawn leaves its own
      // internal signals 32 and 33 ignored, as it does for every program that calls it.
      const ignored = BigInt(`0x${/^SigIgn:\s+([0-9a-f]+)$/m.exec(status)![1]}`);
      assert.equal(ignored & 0x7fffffffn, 0n, `SigIgn ${ignored.toString(16)}`);
    });

    it('reaps every child, also those killed', async () => {
      await Promise.all([run(['true']), code(run(['sleep', '10'], { timeoutMs: 100 })), run(['false'], { okExitCodes: [1] })]);
      assert.equal(children(), '');
    });
  });
}

contract('posix_spawn');
contract('node');
