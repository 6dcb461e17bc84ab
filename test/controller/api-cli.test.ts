/**
 * The command line end to end: `switchyard controller` as a real process on a temp state dir, tokens
 * made with `switchyard controller token create`, resources written and read with `switchyard nc`
 * (tables for collections, JSON that round-trips), exit codes, HTTPS with the CA given to nc, and
 * the OpenAPI document made from the very schemas that validate requests.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { KINDS } from '../../src/controller/kinds/index.js';
import { CLI, freePort, spawnController, type ControllerProcess } from './api-fixture.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'sy-nc-cli-'));
let ctl: ControllerProcess;
let tokenFile: string;
after(async () => {
  await ctl?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI; resolves with its exit code and output whatever the code. */
async function sy(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
}

before(async () => {
  const made = await sy(['controller', 'token', 'create', '--tenant', 'provider', '--role', 'admin', '--state-dir', dir]);
  assert.equal(made.code, 0, made.err);
  assert.match(made.out, /^nc1\.[0-9a-f]{16}\.\S{43}\n$/);
  tokenFile = join(dir, 'admin.token');
  writeFileSync(tokenFile, made.out, { mode: 0o600 });
  ctl = await spawnController(['--state-dir', dir]);
});

const nc = (args: string[]) => sy(['nc', ...args, '--controller', ctl.url, '--token-file', tokenFile]);

describe('switchyard nc', () => {
  it('puts, gets (tables and JSON) and deletes; a GET written back round-trips', async () => {
    const f = join(dir, 'vnet.json');
    writeFileSync(f, JSON.stringify({ properties: { addressSpace: { addressPrefixes: ['10.4.0.0/16'] }, subnets: [{ resourceId: 'web', properties: { addressPrefix: '10.4.1.0/24' } }] } }));
    const put = await nc(['put', '/virtualNetworks/blue', '-f', f]);
    assert.equal(put.code, 0, put.err);
    const doc = JSON.parse(put.out);
    assert.equal(doc.resourceRef, '/virtualNetworks/blue');
    const table = await nc(['get', '/virtualNetworks']);
    assert.equal(table.code, 0, table.err);
    const lines = table.out.trimEnd().split('\n');
    assert.match(lines[0]!, /^RESOURCE ID\s+STATE\s+ETAG\s+TENANT\s+SUMMARY$/);
    assert.match(lines[1]!, new RegExp(`^blue\\s+Succeeded\\s+W/"\\d+"\\s+provider\\s+10\\.4\\.0\\.0/16$`));
    assert.match((await nc(['get', 'virtualNetworks/blue/subnets'])).out, /web\s+Succeeded.*10\.4\.1\.0\/24/);
    const json = await nc(['get', '/virtualNetworks', '-o', 'json']);
    assert.deepEqual(JSON.parse(json.out).value, [doc]);
    // written back as read: accepted, nothing changes (same etag)
    const back = join(dir, 'back.json');
    writeFileSync(back, (await nc(['get', '/virtualNetworks/blue'])).out);
    const again = await nc(['put', '/virtualNetworks/blue', '-f', back, '--if-match', doc.etag]);
    assert.equal(again.code, 0, again.err);
    assert.equal(JSON.parse(again.out).etag, doc.etag);
    const del = await nc(['delete', '/virtualNetworks/blue']);
    assert.equal(del.code, 0, del.err);
    assert.equal(del.out, 'deleted /virtualNetworks/blue\n');
  });

  it('says why, with the status and codes, and exits 1; 2 for wrong usage; 3 when nothing answers', async () => {
    const missing = await nc(['get', '/virtualNetworks/nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /No resource "\/virtualNetworks\/nope" \(404 ResourceNotFound, SY_NOT_FOUND\)/);
    const f = join(dir, 'bad.json');
    writeFileSync(f, '{"properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/8"]}, "subnets": [{"resourceId": "s", "properties": {"addressPrefix": "11.0.0.0/24"}}]}}');
    const bad = await nc(['put', '/virtualNetworks/x', '-f', f]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /outside the addressSpace \(10\.0\.0\.0\/8\) \(400 BadRequest, SY_INVALID_SUBNET\)/);
    assert.equal((await nc(['put', '/virtualNetworks/x'])).code, 2, 'put without -f');
    assert.equal((await nc(['frob', '/x'])).code, 2);
    const down = await sy(['nc', 'get', '/virtualNetworks', '--controller', `http://127.0.0.1:${await freePort()}`, '--token-file', tokenFile]);
    assert.equal(down.code, 3, down.err);
    assert.match(down.err, /cannot reach the controller/);
    const noToken = await sy(['nc', 'get', '/virtualNetworks', '--controller', ctl.url], { SWITCHYARD_NC_TOKEN: '' });
    assert.equal(noToken.code, 2);
  });

  it('tokens: tenants see their own, a revoked token is refused', async () => {
    const t = await sy(['controller', 'token', 'create', '--tenant', 'red', '--role', 'tenant', '--state-dir', dir]);
    assert.equal(t.code, 0, t.err);
    const red = { SWITCHYARD_NC_TOKEN: t.out.trim() };
    assert.equal((await sy(['nc', 'get', '/virtualNetworks', '--controller', ctl.url], red)).code, 0);
    assert.equal((await sy(['nc', 'get', '/macPools', '--controller', ctl.url], red)).code, 1, 'provider collections are for admins');
    const ls = await sy(['controller', 'token', 'ls', '--state-dir', dir]);
    const id = t.out.split('.')[1]!;
    assert.match(ls.out, new RegExp(`^${id}\\s+tenant\\s+red\\s`, 'm'));
    assert.ok(!ls.out.includes(t.out.trim()), 'ls shows ids, never tokens');
    assert.equal((await sy(['controller', 'token', 'revoke', id, '--state-dir', dir])).code, 0);
    const refused = await sy(['nc', 'get', '/virtualNetworks', '--controller', ctl.url], red);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /401 Unauthorized/);
    assert.notEqual((await sy(['controller', 'token', 'create', '--tenant', 'a b', '--role', 'tenant', '--state-dir', dir])).code, 0);
    assert.notEqual((await sy(['controller', 'token', 'create', '--tenant', 'x', '--role', 'root', '--state-dir', dir])).code, 0);
  });

  it('nc watch prints a line per change, from now or from a revision, and stops after --count', async () => {
    const child = spawn(process.execPath, [CLI, 'nc', 'watch', 'virtualNetworks', '--count', '2', '--controller', ctl.url, '--token-file', tokenFile]);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const deadline = Date.now() + 10_000;
      while (!/watching from revision \d+/.test(err)) {
        assert.ok(Date.now() < deadline, `nc watch did not start: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const f = join(dir, 'w.json');
      writeFileSync(f, JSON.stringify({ properties: { addressSpace: { addressPrefixes: ['10.5.0.0/16'] } } }));
      assert.equal((await nc(['put', '/virtualNetworks/w1', '-f', f])).code, 0);
      const second = await nc(['put', '/virtualNetworks/w2', '-f', f, '-o', 'json']);
      assert.equal(second.code, 0);
      assert.equal(await exited, 0, err);
      const lines = out.trim().split('\n');
      assert.equal(lines.length, 2);
      assert.match(lines[0]!, /^\d+ put \/virtualNetworks\/w1 W\/"\d+"$/);
      assert.equal(lines[1], `${JSON.parse(second.out).etag.replace(/\D/g, '')} put /virtualNetworks/w2 ${JSON.parse(second.out).etag}`);
      // from a revision: the past is replayed; -o json gives the events themselves
      const from = Number(lines[0]!.split(' ')[0]);
      const replay = await sy(['nc', 'watch', '--from', String(from), '--count', '2', '-o', 'json', '--controller', ctl.url, '--token-file', tokenFile]);
      assert.equal(replay.code, 0, replay.err);
      assert.deepEqual(replay.out.trim().split('\n').map((l) => JSON.parse(l).resourceRef), ['/virtualNetworks/w1', '/virtualNetworks/w2']);
      assert.equal((await sy(['nc', 'watch', '--from', 'x', '--controller', ctl.url, '--token-file', tokenFile])).code, 2);
      assert.equal((await sy(['nc', 'watch', 'nope', '--controller', ctl.url, '--token-file', tokenFile])).code, 1);
    } finally {
      child.kill();
    }
  });

  it('serves the OpenAPI document made from the validating schemas', async () => {
    const r = await nc(['get', '/openapi.json']);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out);
    assert.equal(doc.openapi, '3.1.0');
    for (const k of KINDS) {
      assert.deepEqual(doc.components.schemas[k.title], JSON.parse(JSON.stringify(k.body)), `${k.title} is the schema that validates its PUT`);
      assert.ok(doc.paths[`/networking/v1/${k.collection}/{resourceId}`].put, k.collection);
      for (const c of k.children) assert.ok(doc.paths[`/networking/v1/${k.collection}/{resourceId}/${c.name}/{childId}`].delete, `${k.collection}/${c.name}`);
    }
  });
});

describe('switchyard controller over HTTPS', () => {
  it('serves with --tls-cert/--tls-key; nc trusts it with --ca-file', async (t) => {
    const key = join(dir, 'tls.key');
    const cert = join(dir, 'tls.crt');
    try {
      await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    } catch (e) {
      t.skip(`openssl cannot make a test certificate: ${(e as Error).message}`);
      return;
    }
    const tls = await spawnController(['--state-dir', dir, '--tls-cert', cert, '--tls-key', key]);
    try {
      const url = tls.url.replace('http:', 'https:');
      const ok = await sy(['nc', 'get', '/virtualNetworks', '--controller', url, '--token-file', tokenFile, '--ca-file', cert]);
      assert.equal(ok.code, 0, ok.err);
      const untrusted = await sy(['nc', 'get', '/virtualNetworks', '--controller', url, '--token-file', tokenFile]);
      assert.equal(untrusted.code, 1, 'a certificate nobody vouched for is refused');
      assert.match(untrusted.err, /self-signed|certificate/i);
      const plain = await sy(['nc', 'get', '/virtualNetworks', '--controller', tls.url, '--token-file', tokenFile]);
      assert.notEqual(plain.code, 0, 'no plain HTTP on the TLS port');
    } finally {
      await tls.stop();
    }
  });
});
