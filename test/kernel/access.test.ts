/**
 * Who can reach hostd, with the real hostd in a test namespace: its unix socket (and the Docker
 * plugin sockets) are mode 0660 root:root, or root:GROUP with --socket-group, so another user cannot
 * connect and a member of the group can (checked as uid 65534 with setpriv); nothing listens on TCP
 * or UDP after a default start (ss in hostd's namespace); the optional TCP listener answers 401
 * without the bearer token or with a wrong one, serves the API with it (the CLI too, with --host);
 * and hostd refuses to start with a listener it cannot guard.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../../src/dataplane/run.js';
import { REPO, requireRoot, World } from './world.js';

const CLI = join(REPO, 'bin/switchyard');
const TOKEN = 'feedface'.repeat(4);
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534'];

describe('access to hostd', () => {
  const w = new World('acc');
  let host: string;
  let tokenFile: string;

  before(async () => {
    requireRoot();
    host = await w.addNs('host');
    // others may traverse the test's directory, so that only the socket's own mode keeps them out
    chmodSync(w.dir, 0o755);
    tokenFile = join(w.dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), []);
  });

  /** What listens on TCP or UDP in hostd's namespace, as `ss` lists it. */
  const listeners = async () => (await w.exec(host, ['ss', '-H', '-ltnu'])).stdout.trim();
  /** The HTTP status of GET /healthz on `socket` for a process with `creds` (setpriv arguments); 0 when it cannot connect. */
  const statusAs = async (creds: string[], socket: string) => {
    const res = await run([...NOBODY, ...creds, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--unix-socket', socket, 'http://hostd/healthz'], { okExitCodes: [7] });
    return res.exitCode === 7 ? 0 : Number(res.stdout);
  };
  /** curl from inside hostd's namespace: status and parsed body. */
  const tcp = async (path: string, headers: string[] = [], method = 'GET', body?: string) => {
    const res = await w.exec(host, ['curl', '-s', '-X', method, '-w', '\n%{http_code}', ...headers.flatMap((h) => ['-H', h]), ...(body ? ['--data', body] : []), `http://127.0.0.1:7071${path}`]);
    const lines = res.stdout.split('\n');
    const status = Number(lines.pop());
    return { status, body: JSON.parse(lines.join('\n') || 'null') as Record<string, unknown> };
  };

  it('a default start: socket 0660 root:root (the Docker plugins too), no other user gets in, nothing listens on TCP or UDP', async () => {
    const plugins = join(w.dir, 'plugins');
    const d = await w.startHostd(host, { args: ['--docker', '--docker-plugin-dir', plugins] });
    for (const path of [d.socket, join(plugins, 'nat.sock'), join(plugins, 'switchyard.sock')]) {
      const st = statSync(path);
      assert.ok(st.isSocket(), path);
      assert.equal(st.mode & 0o777, 0o660, `${path} mode ${(st.mode & 0o777).toString(8)}`);
      assert.deepEqual([st.uid, st.gid], [0, 0], path);
      assert.equal(statSync(join(path, '..')).mode & 0o002, 0, `the directory of ${path} is not world-writable`);
    }
    assert.equal(await statusAs(['--clear-groups'], d.socket), 0, 'uid 65534 cannot connect');
    assert.equal(await statusAs(['--groups=0'], d.socket), 200, "a member of root's group can");
    assert.equal(await listeners(), '', 'nothing listens on TCP or UDP in hostd\'s namespace');
    await w.stopHostd(d, 'SIGTERM');
    assert.ok(!existsSync(d.socket), 'a clean stop removes the socket');
  });

  it('--socket-group: the socket is root:GROUP, members of the group get in, others not', async () => {
    const gid = Number((await run(['getent', 'group', 'daemon'])).stdout.split(':')[2]);
    const d = await w.startHostd(host, { args: ['--socket-group', 'daemon'] });
    const st = statSync(d.socket);
    assert.deepEqual([st.mode & 0o777, st.uid, st.gid], [0o660, 0, gid]);
    assert.equal(await statusAs([`--groups=${gid}`], d.socket), 200);
    assert.equal(await statusAs(['--clear-groups'], d.socket), 0);
    await w.stopHostd(d, 'SIGTERM');
  });

  it('--listen with --token-file: 401 without the token or with a wrong one (on every route), the API with it, the CLI over --host', async () => {
    const d = await w.startHostd(host, { args: ['--listen', '127.0.0.1:7071', '--token-file', tokenFile] });
    assert.match(await listeners(), /^tcp\s+LISTEN\s+\S+\s+\S+\s+127\.0\.0\.1:7071\s/m);
    assert.equal((await listeners()).split('\n').length, 1, 'only the configured address');
    for (const headers of [[], [`Authorization: Bearer ${TOKEN.slice(0, -1)}`], [`Authorization: Bearer ${TOKEN}0`], [`Authorization: Basic ${TOKEN}`], [`X-Token: ${TOKEN}`]]) {
      for (const path of ['/healthz', '/networks', '/status']) {
        const r = await tcp(path, headers);
        assert.equal(r.status, 401, `${path} ${headers.join()}`);
        assert.equal(r.body.Code, 'SY_UNAUTHORIZED');
      }
    }
    const net = JSON.stringify({ Name: 'sneaky', Type: 'NAT' });
    assert.equal((await tcp('/networks', ['Authorization: Bearer wrong-token-wrong-token'], 'POST', net)).status, 401);
    assert.deepEqual(await d.client.request('GET', '/networks'), [], 'a refused POST made nothing');
    const auth = [`Authorization: Bearer ${TOKEN}`];
    assert.equal((await tcp('/healthz', auth)).status, 200);
    assert.equal((await tcp('/networks', auth, 'POST', net)).status, 201);
    assert.equal((await tcp('/networks/sneaky', auth, 'DELETE')).status, 200);

    const cli = (env: string[], ...args: string[]) => w.exec(host, ['env', ...env, process.execPath, CLI, '--host', 'http://127.0.0.1:7071', ...args], { okExitCodes: [1, 2, 3] });
    const made = await cli([], '--token-file', tokenFile, 'network', 'create', '--subnet', '10.77.0.0/24', 'tcpnet');
    assert.equal(made.exitCode, 0, made.stderr);
    const ls = await cli([`SWITCHYARD_TOKEN=${TOKEN}`], 'network', 'ls');
    assert.equal(ls.exitCode, 0, ls.stderr);
    assert.match(ls.stdout, /tcpnet/);
    const wrong = await cli(['SWITCHYARD_TOKEN=not-the-token-at-all'], 'network', 'ls');
    assert.equal(wrong.exitCode, 1);
    assert.match(wrong.stderr, /SY_UNAUTHORIZED/);
    const none = await cli([], 'network', 'ls');
    assert.equal(none.exitCode, 2, 'no token: a usage error');
    assert.equal((await cli([], '--token-file', tokenFile, 'network', 'rm', 'tcpnet')).exitCode, 0);
    await w.stopHostd(d, 'SIGTERM');
    assert.equal(await listeners(), '', 'the listener closes with hostd');
  });

  it('refuses to start with a listener or a socket it cannot guard, and leaves nothing behind', async () => {
    const open = join(w.dir, 'token-644');
    writeFileSync(open, `${TOKEN}\n`, { mode: 0o644 });
    chmodSync(open, 0o644);
    const short = join(w.dir, 'token-short');
    writeFileSync(short, 'abc\n', { mode: 0o600 });
    const shared = join(w.dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const socket = join(w.dir, 'refused.sock');
    const cases: [string[], RegExp][] = [
      [['--listen', '192.0.2.1:7072'], /--listen 192\.0\.2\.1:7072 needs --token-file: anyone who can reach this address/],
      [['--listen', '127.0.0.1:7072'], /needs --token-file: other users of this host/],
      [['--listen', '127.0.0.1:7072', '--token-file', open], /readable or writable by others \(mode 644\)/],
      [['--listen', '127.0.0.1:7072', '--token-file', short], /at least 16 visible ASCII characters/],
      [['--listen', 'localhost:7072', '--token-file', tokenFile], /an address, not a name/],
      [['--token-file', tokenFile], /--token-file is for --listen/],
      [['--socket-group', 'no-such-group-here'], /no group "no-such-group-here"/],
      [['--socket', join(shared, 'hns.sock')], /world-writable directory/],
    ];
    for (const [args, message] of cases) {
      const res = await run(
        ['nsenter', `--net=/run/netns/${host}`, '--', process.execPath, CLI, 'hostd', '--state-dir', join(w.dir, 'state-refused'), '--socket', socket, ...args],
        { okExitCodes: [1], timeoutMs: 30_000 },
      );
      assert.equal(res.exitCode, 1, args.join(' '));
      assert.match(res.stderr, message, args.join(' '));
      assert.ok(!existsSync(socket) && !existsSync(join(shared, 'hns.sock')), `${args.join(' ')}: no socket was made`);
      assert.equal(await listeners(), '', `${args.join(' ')}: nothing listens`);
    }
  });
});
