/** The pure parts of the DHCP client: the messages it sends, an ACK read into a Lease, the renewal schedule. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SyError } from '../../src/errors.js';
import { leaseFromAck, type Lease } from '../../src/dhcp/lease.js';
import { answers, checkIdentity, discover, extendRequest, initRebootRequest, release, selectRequest } from '../../src/dhcp/messages.js';
import { decodeDhcp, encodeDhcp, type DhcpOptions, type DhcpPacket } from '../../src/dhcp/packet.js';
import { leaseAction, MIN_RETRY_MS, nextLeaseAction, phaseAt } from '../../src/dhcp/schedule.js';

const MAC = '02:42:de:ad:be:01';
const T0 = Date.UTC(2026, 11, 4, 21, 0, 0);

function reply(options: DhcpOptions, yiaddr = '198.18.0.140', xid = 7): DhcpPacket {
  return { op: 'reply', hops: 0, xid, secs: 0, broadcast: true, ciaddr: '0.0.0.0', yiaddr, siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr: MAC, sname: '', file: '', options };
}

const ACK: DhcpOptions = {
  messageType: 'ACK', serverId: '198.18.0.1', leaseSeconds: 3600, subnetMask: '255.255.255.0',
  routers: ['198.18.0.1', '198.18.0.2'], dnsServers: ['198.18.0.53'], domainName: 'sydh.test',
};

test('an ACK becomes a lease timed from when the REQUEST was sent', () => {
  const lease = leaseFromAck(reply({ ...ACK, renewalSeconds: 1000, rebindingSeconds: 3000 }), MAC.toUpperCase(), T0);
  assert.deepEqual(lease, {
    address: '198.18.0.140', prefixLength: 24, gateway: '198.18.0.1', dnsServers: ['198.18.0.53'], domain: 'sydh.test',
    serverId: '198.18.0.1', leaseSeconds: 3600, renewAt: T0 + 1_000_000, rebindAt: T0 + 3_000_000, expiresAt: T0 + 3_600_000,
    mac: MAC, obtainedAt: T0,
  } satisfies Lease);
});

test('T1 and T2 default to 1/2 and 7/8 of the lease; out-of-order values are ignored', () => {
  const d = leaseFromAck(reply(ACK), MAC, T0);
  assert.equal(d.renewAt, T0 + 1_800_000);
  assert.equal(d.rebindAt, T0 + 3_150_000);
  const bad = leaseFromAck(reply({ ...ACK, renewalSeconds: 3200, rebindingSeconds: 4000 }), MAC, T0);
  assert.equal(bad.rebindAt, T0 + 3_150_000, 'T2 past the lease falls back to 7/8');
  assert.equal(bad.renewAt, T0 + 1_800_000, 'T1 past T2 falls back to 1/2');
  const lean = leaseFromAck(reply({ messageType: 'ACK', leaseSeconds: 60, subnetMask: '255.255.0.0' }), MAC, T0, '198.18.0.9');
  assert.equal(lean.serverId, '198.18.0.9', 'without option 54 the source of the ACK names the server');
  assert.equal(lean.gateway, undefined);
  assert.deepEqual(lean.dnsServers, []);
  assert.equal(lean.prefixLength, 16);
});

test('an ACK that grants nothing usable is refused with SY_KERNEL', () => {
  const cases: [DhcpPacket, RegExp][] = [
    [reply({ ...ACK, messageType: 'NAK' }), /not ACK/],
    [reply(ACK, '0.0.0.0'), /no address/],
    [reply({ ...ACK, leaseSeconds: undefined }), /no lease time/],
    [reply({ ...ACK, subnetMask: undefined }), /no subnet mask/],
    [reply({ ...ACK, subnetMask: '255.0.255.0' }), /not contiguous/],
    [reply({ ...ACK, serverId: undefined }), /no server identifier/],
  ];
  for (const [ack, why] of cases) {
    assert.throws(() => leaseFromAck(ack, MAC, T0), (e: unknown) => e instanceof SyError && e.code === 'SY_KERNEL' && why.test(e.message), String(why));
  }
});

test('client messages carry what RFC 2131 table 5 asks of each state', () => {
  const id = { mac: MAC, hostname: 'ep1' };
  const d = decodeDhcp(encodeDhcp(discover(id, 7, 0)));
  assert.equal(d.broadcast, true);
  assert.equal(d.options.messageType, 'DISCOVER');
  assert.equal(d.options.hostname, 'ep1');
  assert.equal(d.options.requestedAddress, undefined);
  assert.deepEqual(d.options.parameterRequestList, [1, 3, 6, 15, 51, 54, 58, 59]);

  const offer = reply({ messageType: 'OFFER', serverId: '198.18.0.1' });
  const sel = selectRequest(id, 7, 1, offer);
  assert.equal(sel.xid, 7, 'same xid as the DISCOVER');
  assert.equal(sel.ciaddr, '0.0.0.0');
  assert.equal(sel.options.requestedAddress, '198.18.0.140');
  assert.equal(sel.options.serverId, '198.18.0.1');
  assert.throws(() => selectRequest(id, 7, 1, reply({ messageType: 'OFFER' })), /names no server/);

  const reboot = initRebootRequest(id, 8, 0, '198.18.0.140');
  assert.equal(reboot.options.requestedAddress, '198.18.0.140');
  assert.equal(reboot.options.serverId, undefined);
  assert.equal(reboot.ciaddr, '0.0.0.0');

  const renew = extendRequest(id, 9, 0, '198.18.0.140');
  assert.equal(renew.ciaddr, '198.18.0.140');
  assert.equal(renew.broadcast, false);
  assert.equal(renew.options.requestedAddress, undefined, 'RENEWING must not send option 50');
  assert.equal(renew.options.serverId, undefined, 'RENEWING must not send option 54');

  const rel = release({ mac: MAC, clientId: 'c1' }, 10, '198.18.0.140', '198.18.0.1');
  assert.equal(rel.options.messageType, 'RELEASE');
  assert.equal(rel.ciaddr, '198.18.0.140');
  assert.equal(rel.options.serverId, '198.18.0.1');
  assert.deepEqual([...rel.options.clientId!], [0, 0x63, 0x31]);
});

test('answers() takes only the reply to our transaction, for our MAC, of the awaited type, from the chosen server', () => {
  const ack = reply({ ...ACK }, '198.18.0.140', 42);
  assert.ok(answers(ack, 42, MAC, ['ACK', 'NAK']));
  assert.ok(answers(ack, 42, MAC.toUpperCase(), ['ACK'], '198.18.0.1'));
  assert.ok(!answers(ack, 43, MAC, ['ACK']), 'another xid');
  assert.ok(!answers(ack, 42, '02:42:de:ad:be:02', ['ACK']), 'another client');
  assert.ok(!answers(ack, 42, MAC, ['OFFER']), 'another type');
  assert.ok(!answers(ack, 42, MAC, ['ACK'], '198.18.0.2'), 'another server');
  assert.ok(!answers({ ...ack, op: 'request' }, 42, MAC, ['ACK']), 'a request is no answer');
});

test('identities are checked before anything is sent', () => {
  for (const bad of [{ mac: '02:42:de:ad:be' }, { mac: MAC, hostname: 'a b' }, { mac: MAC, hostname: '-x' }, { mac: MAC, clientId: '' }]) {
    assert.throws(() => checkIdentity(bad), (e: unknown) => e instanceof SyError && e.code === 'SY_BAD_REQUEST', JSON.stringify(bad));
  }
  checkIdentity({ mac: MAC.toUpperCase(), hostname: 'ep-1.sydh.test', clientId: 'endpoint 1' });
});

// --- schedule ---------------------------------------------------------------------------------------

function leaseOf(seconds: number, t1 = seconds / 2, t2 = (seconds * 7) / 8): Lease {
  return leaseFromAck(reply({ ...ACK, leaseSeconds: seconds, renewalSeconds: t1, rebindingSeconds: t2 }), MAC, T0);
}

test('schedule: renew at T1; a failed renewal retries after half the time to T2, at least 60 s', () => {
  const day = leaseOf(86_400);
  assert.deepEqual(leaseAction({ lease: day }), { action: 'renew', at: day.renewAt });
  const failedAt = day.renewAt + 1_000;
  assert.deepEqual(leaseAction({ lease: day, failedAt }), { action: 'renew', at: failedAt + (day.rebindAt - failedAt) / 2 });
  // Close to T2 the retry waits 60 s, but never past T2: then it rebinds.
  const late = day.rebindAt - 90_000;
  assert.deepEqual(leaseAction({ lease: day, failedAt: late }), { action: 'renew', at: late + MIN_RETRY_MS });
  assert.deepEqual(leaseAction({ lease: day, failedAt: day.rebindAt - 10_000 }), { action: 'rebind', at: day.rebindAt });
  // A failed rebind retries towards expiry, and expiry is the last action.
  const rebindFail = day.rebindAt + 1_000;
  assert.deepEqual(leaseAction({ lease: day, failedAt: rebindFail }), { action: 'rebind', at: rebindFail + (day.expiresAt - rebindFail) / 2 });
  assert.deepEqual(leaseAction({ lease: day, failedAt: day.expiresAt - 5_000 }), { action: 'expire', at: day.expiresAt });
});

test('schedule: a short lease (dnsmasq 120 s) still renews, rebinds, expires in that order', () => {
  const short = leaseOf(120, 60, 105);
  const seen: string[] = [];
  let state: { lease: Lease; failedAt?: number } = { lease: short };
  for (let k = 0; k < 5; k++) {
    const a = leaseAction(state);
    seen.push(a.action);
    if (a.action === 'expire') break;
    state = { lease: short, failedAt: a.at }; // every attempt fails
  }
  assert.deepEqual(seen, ['renew', 'rebind', 'expire']);
  assert.equal(phaseAt(short, short.rebindAt - 1), 'renew');
  assert.equal(phaseAt(short, short.rebindAt), 'rebind');
  assert.equal(phaseAt(short, short.expiresAt), 'expire');
});

test('schedule: the earliest action over all leases, or null without leases', () => {
  assert.equal(nextLeaseAction([]), null);
  const a = leaseOf(3600);
  const b = leaseOf(200);
  const next = nextLeaseAction(new Map([['ep-a', { lease: a }], ['ep-b', { lease: b }]]));
  assert.deepEqual(next, { key: 'ep-b', action: 'renew', at: b.renewAt });
  const failing = nextLeaseAction(new Map([['ep-a', { lease: a }], ['ep-b', { lease: b, failedAt: b.renewAt }]]));
  assert.equal(failing?.key, 'ep-b');
  assert.equal(failing?.at, b.renewAt + MIN_RETRY_MS);
});
