/**
 * hostd's controller agent (src/agent/) against a real controller over HTTP: the first sync brings
 * the whole span and persists it; a change brings one batch with that change; heartbeats and the
 * realiser's reports show on the controller; with the controller away the cache stays and the agent
 * retries; a controller back on the same store (and an agent restarted from its state file) sends
 * only what changed meanwhile; a token of another server is refused and retried, never applied.
 * The Realiser here records what it is given (the host side is tested with the kernel).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Follower, type Realiser, type SpanChange, type SpanMember } from '../../src/agent/follower.js';
import { SouthboundClient, type Report } from '../../src/agent/southbound-client.js';
import { buildControllerApi } from '../../src/controller/api.js';
import { createToken } from '../../src/controller/auth.js';
import { SqliteStore } from '../../src/controller/store/sqlite.js';
import type { Store } from '../../src/controller/store/store.js';
import { freePort, request } from './api-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-agent-'));
let store: Store;
let app: FastifyInstance | undefined;
let port: number;
let admin: string;
let hostToken: string;
const followers: Follower[] = [];

async function serve(): Promise<void> {
  app = buildControllerApi({ store, watch: { keepaliveMs: 200 } });
  await app.listen({ host: '127.0.0.1', port });
}
const url = () => `http://127.0.0.1:${port}`;
const req = (method: string, path: string, body?: unknown) => request(url(), method, path, body, { token: admin });

before(async () => {
  store = await SqliteStore.open(join(dir, 'controller.db'));
  port = await freePort();
  await serve();
  admin = (await createToken(store, 'provider', 'admin')).token;
  hostToken = (await createToken(store, 'provider', 'host', 'h1')).token;
  const seed: [string, unknown][] = [
    ['/servers/h1', { properties: {} }],
    ['/servers/h2', { properties: {} }],
    ['/macPools/mp', { properties: { startMacAddress: '00-1D-D8-00-00-00', endMacAddress: '00-1D-D8-00-00-FF' } }],
    ['/accessControlLists/a1', acl(100)],
    ['/virtualNetworks/v1', { properties: { addressSpace: { addressPrefixes: ['10.1.0.0/16'] }, subnets: [{ resourceId: 's1', properties: { addressPrefix: '10.1.1.0/24', accessControlList: { resourceRef: '/accessControlLists/a1' } } }] } }],
    ['/networkInterfaces/n1', nic('h1')],
    ['/networkInterfaces/n2', nic('h2')],
  ];
  for (const [path, body] of seed) assert.equal((await req('PUT', path, body)).status, 201, path);
});
after(async () => {
  for (const f of followers) await f.stop();
  await app?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

function acl(priority: number) {
  return { properties: { aclRules: [{ resourceId: 'r1', properties: { protocol: 'TCP', action: 'Allow', type: 'Inbound', priority, destinationPortRange: '80' } }] } };
}
function nic(server: string) {
  return { properties: { server: { resourceRef: `/servers/${server}` }, ipConfigurations: [{ resourceId: 'ip', properties: { subnet: { resourceRef: '/virtualNetworks/v1/subnets/s1' } } }] } };
}

/** Records every batch; reports Success for each resource it is given. */
class RecordingRealiser implements Realiser {
  batches: SpanChange[][] = [];
  async apply(changes: SpanChange[], _members: ReadonlyMap<string, SpanMember>): Promise<Report[]> {
    this.batches.push(changes);
    return changes.filter((c) => c.type === 'put' && !c.resourceRef.startsWith('/servers/')).map((c) => ({ resourceRef: c.resourceRef, status: 'Success' }));
  }
  all(): string[] {
    return this.batches.flat().map((c) => `${c.type} ${c.resourceRef}`).sort();
  }
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function follower(realiser: Realiser, token = hostToken, server = 'h1'): Follower {
  const f = new Follower(new SouthboundClient({ controller: new URL(url()), serverId: server, token }), realiser, {
    stateFile: join(dir, `agent-${server}-${followers.length}.json`),
    hostdVersion: '0.1.0',
    supportedModes: () => ['NAT', 'Overlay'],
    providerAddresses: () => ['10.0.0.11'],
    heartbeatMs: 200,
    backoffMaxMs: 300,
  });
  followers.push(f);
  return f;
}

describe('the controller agent', () => {
  const r = new RecordingRealiser();
  let f: Follower;

  it('syncs the whole span first, persists it, and heartbeats', async () => {
    f = follower(r);
    await f.start();
    await until('the first sync', () => f.status().connected && r.batches.length > 0);
    assert.deepEqual(r.all(), ['put /accessControlLists/a1', 'put /networkInterfaces/n1', 'put /servers/h1', 'put /virtualNetworks/v1', 'remote /networkInterfaces/n2/ipConfigurations/ip']);
    const saved = JSON.parse(readFileSync(join(dir, 'agent-h1-0.json'), 'utf8'));
    assert.equal(saved.members.length, 5);
    await until('the heartbeat', async () => (await req('GET', '/servers/h1')).body.properties.configurationState?.hostdVersion === '0.1.0');
    assert.deepEqual((await req('GET', '/servers/h1')).body.properties.configurationState.providerAddresses, ['10.0.0.11']);
    await until('the reports', async () => (await req('GET', '/networkInterfaces/n1')).body.properties.configurationState?.status === 'Success');
  });

  it('a change is one batch holding that change', async () => {
    const before = r.batches.length;
    assert.equal((await req('PUT', '/accessControlLists/a1', acl(200))).status, 200);
    await until('the change', () => r.batches.length > before);
    const batch = r.batches[before]!;
    assert.deepEqual(batch.map((c) => `${c.type} ${c.resourceRef}`), ['put /accessControlLists/a1']);
    assert.equal((batch[0] as { resource: any }).resource.properties.aclRules[0].properties.priority, 200);
  });

  it('keeps its state while the controller is away and gets only what changed meanwhile', async () => {
    await app!.close();
    await until('the agent to notice', () => !f.status().connected);
    assert.equal(f.span.size, 5, 'nothing is dropped because the controller is away');
    // meanwhile (the store outlives the controller process): one ACL changes, one remote NIC goes
    const before = r.batches.length;
    const { Engine } = await import('../../src/controller/engine.js');
    const { KINDS } = await import('../../src/controller/kinds/index.js');
    const kinds = KINDS;
    const engine = new Engine(store, kinds);
    const who = { tokenId: 'x', tenant: 'provider', role: 'admin' as const };
    await engine.put(who, { kind: kinds.find((k) => k.collection === 'accessControlLists')!, id: 'a1' }, acl(300), {});
    await engine.delete(who, { kind: kinds.find((k) => k.collection === 'networkInterfaces')!, id: 'n2' }, {});
    await serve();
    await until('the catch-up', () => f.status().connected && r.batches.slice(before).flat().length >= 2);
    assert.deepEqual(r.batches.slice(before).flat().map((c) => `${c.type} ${c.resourceRef}`).sort(), ['delete /networkInterfaces/n2/ipConfigurations/ip', 'put /accessControlLists/a1']);
  });

  it('an agent restarted from its state file realises its cache at once and then gets only the difference', async () => {
    await f.stop();
    assert.equal((await req('PUT', '/networkInterfaces/n3', nic('h2'))).status, 201);
    const r2 = new RecordingRealiser();
    const again = new Follower(new SouthboundClient({ controller: new URL(url()), serverId: 'h1', token: hostToken }), r2, {
      stateFile: join(dir, 'agent-h1-0.json'),
      hostdVersion: '0.1.0',
      supportedModes: () => ['Overlay'],
      providerAddresses: () => ['10.0.0.11'],
      heartbeatMs: 200,
      backoffMaxMs: 300,
    });
    followers.push(again);
    await again.start();
    assert.equal(r2.batches.length, 1, 'the cache is realised before the controller answers (a rebooted host)');
    assert.equal(r2.batches[0]!.length, 4);
    await until('the difference', () => r2.batches.length > 1);
    assert.deepEqual(r2.batches.slice(1).flat().map((c) => `${c.type} ${c.resourceRef}`), ['remote /networkInterfaces/n3/ipConfigurations/ip']);
  });

  it("a token of another server is refused and nothing is applied", async () => {
    const r3 = new RecordingRealiser();
    const wrong = follower(r3, hostToken, 'h2');
    await wrong.start();
    await until('the refusal', () => /403/.test(wrong.status().lastError ?? ''));
    assert.equal(r3.batches.length, 0);
    assert.equal(wrong.status().connected, false);
    assert.ok(!existsSync(join(dir, `agent-h2-${followers.length - 1}.json`)));
  });
});
