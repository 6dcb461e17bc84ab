/**
 * Access to hostd without root: the unix socket's mode from the first instant it has its name, the
 * refusal of a world-writable directory, the TCP listener's bearer token (checked before the body is
 * read, /healthz included), the token file's rules, the listen address, and log lines that no input
 * can split. The kernel test (test/kernel/access.test.ts) runs the real hostd with these flags.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildApi } from '../../src/hostd/api.js';
import { logSafe } from '../../src/hostd/main.js';
import { bearerMatches, parseListenAddress, readTokenFile } from '../../src/hostd/token.js';
import { listenOnUnixSocket } from '../../src/hostd/unix-socket.js';
import { newTestHost } from './host-fixture.js';

const TOKEN = 'c0ffee'.repeat(6);

describe('the unix socket', () => {
  it('has mode 0660 (and root as owner, when root) from the first instant it has its name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-sock-'));
    const path = join(dir, 'hns.sock');
    const seen: number[] = [];
    // every change in the directory: if the socket is there, look at its mode at once
    const w = watch(dir, () => {
      if (existsSync(path)) seen.push(statSync(path).mode & 0o777);
    });
    const server = createServer();
    try {
      await listenOnUnixSocket(server, path);
      const st = statSync(path);
      assert.ok(st.isSocket());
      assert.equal(st.mode & 0o777, 0o660);
      if (process.getuid?.() === 0) assert.deepEqual([st.uid, st.gid], [0, 0]);
      assert.ok(seen.every((m) => m === 0o660), `modes seen while it was made: ${seen.map((m) => m.toString(8)).join(', ')}`);
    } finally {
      w.close();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('replaces a stale socket, and refuses a world-writable directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-sock-'));
    const path = join(dir, 'hns.sock');
    const first = createServer();
    const second = createServer();
    try {
      await listenOnUnixSocket(first, path);
      await listenOnUnixSocket(second, path);
      assert.equal(statSync(path).mode & 0o777, 0o660);
      chmodSync(dir, 0o1777);
      await assert.rejects(listenOnUnixSocket(createServer(), join(dir, 'other.sock')), /world-writable/);
      assert.ok(!existsSync(join(dir, 'other.sock')));
    } finally {
      first.close();
      second.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the TCP listener', () => {
  it('answers 401 without the bearer token or with a wrong one, on every route, and reads no body first', async () => {
    const h = await newTestHost();
    const app = buildApi(h.svc, { token: TOKEN });
    try {
      const cases: [string | undefined, number][] = [
        [undefined, 401],
        ['', 401],
        [`Bearer ${TOKEN.slice(1)}`, 401],
        [`Bearer ${TOKEN}x`, 401],
        [`Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`, 401],
        [`Bearer  ${TOKEN}`, 401],
        [TOKEN, 401],
        [`Bearer ${TOKEN}`, 200],
        [`bearer ${TOKEN}`, 200],
      ];
      for (const [authorization, status] of cases) {
        for (const url of ['/healthz', '/networks', '/status']) {
          const res = await app.inject({ method: 'GET', url, headers: authorization === undefined ? {} : { authorization } });
          assert.equal(res.statusCode, status, `${url} with ${JSON.stringify(authorization)}`);
          if (status === 401) {
            assert.deepEqual(Object.keys(res.json()), ['Error', 'Code']);
            assert.equal(res.json().Code, 'SY_UNAUTHORIZED');
            assert.match(String(res.headers['www-authenticate']), /^Bearer/);
          }
        }
      }
      const refused = await app.inject({ method: 'POST', url: '/networks', payload: '{"Name": "n", "Type": "NAT"', headers: { authorization: 'Bearer nope' } });
      assert.equal(refused.statusCode, 401, 'the broken body is never parsed: 401, not 400');
      assert.equal(h.svc.state.networks.size, 0);
      const made = await app.inject({ method: 'POST', url: '/networks', payload: { Name: 'n', Type: 'NAT' }, headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(made.statusCode, 201);
      const open = buildApi(h.svc);
      assert.equal((await open.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'the unix socket needs no token');
      await open.close();
    } finally {
      await app.close();
      h.cleanup();
    }
  });

  it('compares tokens whole: a prefix, a longer one, an empty one never match', () => {
    assert.ok(bearerMatches(`Bearer ${TOKEN}`, TOKEN));
    for (const h of [undefined, '', 'Bearer', 'Bearer ', `Bearer ${TOKEN.slice(0, 8)}`, `Bearer ${TOKEN}${TOKEN}`, `Bearer ${TOKEN} `, `Bearer ${TOKEN}\n`]) {
      assert.equal(bearerMatches(h, TOKEN), false, JSON.stringify(h));
    }
  });

  it('reads the token from a file only its owner (and group) may read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-token-'));
    const file = join(dir, 'token');
    try {
      writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
      assert.equal(await readTokenFile(file), TOKEN);
      chmodSync(file, 0o640);
      assert.equal(await readTokenFile(file), TOKEN);
      for (const mode of [0o644, 0o602, 0o601]) {
        chmodSync(file, mode);
        await assert.rejects(readTokenFile(file), /readable or writable by others/, mode.toString(8));
      }
      chmodSync(file, 0o600);
      for (const bad of ['short', `${TOKEN} ${TOKEN}`, `${TOKEN}\n${TOKEN}`, '']) {
        writeFileSync(file, bad);
        await assert.rejects(readTokenFile(file), /at least 16 visible ASCII/, JSON.stringify(bad));
      }
      await assert.rejects(readTokenFile(join(dir, 'none')), /ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('listens on an IP literal and port only', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:7070'), { host: '127.0.0.1', port: 7070 });
    assert.deepEqual(parseListenAddress('[::1]:7070'), { host: '::1', port: 7070 });
    for (const bad of ['localhost:7070', '127.0.0.1', ':7070', '127.0.0.1:0', '127.0.0.1:65536', '300.0.0.1:80', '::1:7070', 'example.com:80', '127.0.0.1:80; x']) {
      assert.throws(() => parseListenAddress(bad), /--listen/, bad);
    }
  });
});

describe('log lines', () => {
  it('escape what could forge a line or hide text: newlines, carriage returns, escapes, bidi marks', () => {
    assert.equal(logSafe('network "a\nwarn forged" not found'), 'network "a\\u000awarn forged" not found');
    assert.equal(logSafe('a\r\u001b[31m\u0000\u202eb\u2028'), 'a\\u000d\\u001b[31m\\u0000\\u202eb\\u2028');
    assert.equal(logSafe('plain ünïcode 😀 stays'), 'plain ünïcode 😀 stays');
  });
});
