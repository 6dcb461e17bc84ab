/** The DHCP client's front checks and its exchange program's contract, without root and without a namespace. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { run } from '../../src/dataplane/run.js';
import { SyError } from '../../src/errors.js';
import { acquireLease, EXCHANGE_PROGRAM, releaseLease, renewLease, type DhcpInterface, type Lease } from '../../src/dhcp/client.js';
import type { ExchangeResult } from '../../src/dhcp/transaction.js';

const MAC = '02:42:de:ad:be:01';
const GONE = '/run/netns/sydh-unit-no-such-namespace';
const LEASE: Lease = {
  address: '198.18.0.140', prefixLength: 24, dnsServers: [], serverId: '198.18.0.1', leaseSeconds: 120,
  renewAt: 60_000, rebindAt: 105_000, expiresAt: 120_000, mac: MAC, obtainedAt: 0,
};

const code = (c: string) => (e: unknown) => e instanceof SyError && e.code === c;

test('the exchange program is found beside the module, in whatever directory the build wrote', () => {
  assert.ok(EXCHANGE_PROGRAM.endsWith('/src/dhcp/exchange.js'), EXCHANGE_PROGRAM);
  assert.ok(existsSync(EXCHANGE_PROGRAM), `${EXCHANGE_PROGRAM} exists`);
});

test('bad input is refused before any process starts', async () => {
  const opts: DhcpInterface = { nsPath: GONE, ifName: 'eth0', mac: MAC };
  await assert.rejects(acquireLease({ ...opts, mac: 'not-a-mac' }), code('SY_BAD_REQUEST'));
  await assert.rejects(acquireLease({ ...opts, hostname: 'has space' }), code('SY_BAD_REQUEST'));
  await assert.rejects(acquireLease({ ...opts, requestedAddress: '198.18.0' }), code('SY_BAD_REQUEST'));
  await assert.rejects(acquireLease({ ...opts, ifName: 'eth0/../x' }), code('SY_INVALID_NAME'));
  await assert.rejects(acquireLease({ ...opts, timeoutMs: 5 }), code('SY_BAD_REQUEST'));
  await assert.rejects(acquireLease(opts), (e: unknown) => code('SY_NAMESPACE_NOT_FOUND')(e) && (e as Error).message.includes(GONE));
  await assert.rejects(renewLease(opts, LEASE, 0), code('SY_NAMESPACE_NOT_FOUND'));
});

test('renewing an expired lease is refused: the caller acquires anew', async () => {
  await assert.rejects(renewLease({ nsPath: GONE, ifName: 'eth0', mac: MAC }, LEASE, LEASE.expiresAt), (e: unknown) => code('SY_KERNEL')(e) && /expired/.test((e as Error).message));
});

test('release never throws for a namespace that is gone', async () => {
  assert.equal(await releaseLease({ nsPath: GONE, ifName: 'eth0', mac: MAC }, LEASE), false);
});

test('the exchange program answers a request it cannot read with a JSON error, exit 0', async () => {
  const res = await run([process.execPath, EXCHANGE_PROGRAM], { stdin: '{not json' });
  const r = JSON.parse(res.stdout) as ExchangeResult;
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.code === 'SY_BAD_REQUEST' && r.message.startsWith('The DHCP exchange cannot read its request'));
});
