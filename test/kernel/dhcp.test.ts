/**
 * The DHCP client against a real DHCP server (dnsmasq) on a bridged fabric, in namespaces of its own:
 * acquire, use, renew, rebind, release, a static reservation, a NAK, and a network without a server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../../src/dataplane/run.js';
import { SyError } from '../../src/errors.js';
import { acquireLease, EXCHANGE_PROGRAM, isDhcpRefusal, releaseLease, renewLease, type DhcpInterface, type Lease } from '../../src/dhcp/client.js';
import { DhcpWorld, DNS_SERVERS, DOMAIN, LEASE_SECONDS, RANGE, SERVER_ADDRESS, processesMentioning, requireRoot, waitFor, type Dnsmasq } from './dhcp-world.js';

const RESERVED_MAC = '02:5e:00:00:00:77';
const RESERVED_ADDRESS = '198.18.0.77';

function inRange(addr: string): boolean {
  const last = (a: string) => Number(a.split('.')[3]);
  return addr.startsWith('198.18.0.') && last(addr) >= last(RANGE[0]) && last(addr) <= last(RANGE[1]);
}

/** What hostd does with a lease: the address with its prefix on the interface, the default route via the gateway. */
async function configure(w: DhcpWorld, ns: string, lease: Lease): Promise<void> {
  await w.ip(ns, `addr add ${lease.address}/${lease.prefixLength} dev eth0`, ...(lease.gateway ? [`route add default via ${lease.gateway}`] : []));
}

async function rejection(p: Promise<unknown>): Promise<SyError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SyError, `expected a SyError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

/**
 * The world of one suite, built before its tests and removed after them (also when they fail), with
 * the leak checks: no namespace of the run, no exchange process left.
 */
function worldWithServer(tag: string, args: string[], opts: { authoritative?: boolean } = {}): { w: DhcpWorld; dnsmasq: () => Dnsmasq } {
  const w = new DhcpWorld(tag);
  let server: Dnsmasq | undefined;
  before(async () => {
    requireRoot();
    await w.build();
    server = await w.startDnsmasq(args, opts);
  });
  after(async () => {
    await w.cleanup();
    assert.deepEqual(w.leftovers(), [], 'namespaces of this run remain');
    assert.deepEqual(processesMentioning(EXCHANGE_PROGRAM), [], 'an exchange process is still running');
  });
  return { w, dnsmasq: () => server! };
}

describe('DHCP client on a real kernel with dnsmasq', () => {
  const { w, dnsmasq } = worldWithServer('a', [`--dhcp-host=${RESERVED_MAC},${RESERVED_ADDRESS}`]);

  it('acquires the address, prefix, gateway and DNS servers dnsmasq hands out, usable on the wire', async () => {
    const mac = '02:5e:00:00:00:01';
    const ns = await w.endpoint(mac);
    const started = Date.now();
    const lease = await acquireLease({ nsPath: w.nsPath(ns), ifName: 'eth0', mac, hostname: 'ep-one' });
    const tookMs = Date.now() - started;
    assert.ok(inRange(lease.address), `${lease.address} is in dnsmasq's range`);
    assert.equal(lease.prefixLength, 24);
    assert.equal(lease.gateway, SERVER_ADDRESS);
    assert.deepEqual(lease.dnsServers, DNS_SERVERS);
    assert.equal(lease.domain, DOMAIN);
    assert.equal(lease.serverId, SERVER_ADDRESS);
    assert.equal(lease.leaseSeconds, LEASE_SECONDS);
    assert.equal(lease.mac, mac);
    assert.ok(lease.obtainedAt >= started && lease.obtainedAt <= Date.now());
    assert.equal(lease.expiresAt, lease.obtainedAt + LEASE_SECONDS * 1000);
    assert.ok(lease.renewAt < lease.rebindAt && lease.rebindAt < lease.expiresAt);
    // dnsmasq recorded the same lease for this MAC and hostname.
    const recorded = w.leases(dnsmasq()).find((l) => l.mac === mac);
    assert.ok(recorded, `dnsmasq's lease file names ${mac}: ${JSON.stringify(w.leases(dnsmasq()))}`);
    assert.equal(recorded.address, lease.address);
    assert.equal(recorded.hostname, 'ep-one');
    // What the user sees: with the lease configured, the endpoint reaches the server's network.
    await configure(w, ns, lease);
    await run(['busybox', 'ping', '-c', '1', '-W', '2', SERVER_ADDRESS], { netns: w.nsPath(ns) });
    process.stdout.write(`# acquire took ${tookMs} ms (dnsmasq checks a new address with ARP first)\n`);
  });

  it('renews with the server (unicast) and rebinds (broadcast), extending the lease in dnsmasq', async () => {
    const mac = '02:5e:00:00:00:02';
    const ns = await w.endpoint(mac);
    const opts: DhcpInterface = { nsPath: w.nsPath(ns), ifName: 'eth0', mac };
    const first = await acquireLease(opts);
    await configure(w, ns, first);
    const expiresInFile = () => w.leases(dnsmasq()).find((l) => l.mac === mac)!.expires;
    const before = expiresInFile();
    // dnsmasq records expiry in whole seconds: let one pass so an extension shows there.
    await waitFor('a second to pass', async () => Math.floor(Date.now() / 1000) > Math.floor(first.obtainedAt / 1000) + 1, 5_000);
    const wire = await w.capture(w.server, ['udp', 'dst', 'port', '67', 'and', 'src', 'host', first.address]);
    const renewed = await renewLease(opts, first);
    assert.equal(renewed.address, first.address);
    assert.equal(renewed.serverId, SERVER_ADDRESS);
    assert.ok(renewed.expiresAt > first.expiresAt, 'the renewed lease lasts longer');
    assert.ok(renewed.obtainedAt > first.obtainedAt);
    assert.ok(expiresInFile() > before, `dnsmasq extended the lease (${before} -> ${expiresInFile()})`);
    assert.match(dnsmasq().log(), new RegExp(`DHCPACK\\(eth0\\) ${first.address.replaceAll('.', '\\.')} ${mac}`));

    // Past T2 the same call rebinds: broadcast to any server.
    const rebound = await renewLease(opts, renewed, renewed.rebindAt + 1);
    assert.equal(rebound.address, first.address);
    assert.ok(rebound.expiresAt >= renewed.expiresAt);
    // On the wire: the renewal went to the server, the rebinding to everyone, both from the leased address.
    const from = `${first.address}.68`.replaceAll('.', '\\.');
    await waitFor('both requests on the wire', async () => new RegExp(`${from} > 255\\.255\\.255\\.255\\.67`).test(wire.text()));
    const requests = wire.text().trim().split('\n');
    assert.ok(requests.length >= 2, wire.text());
    assert.match(requests[0]!, new RegExp(`${from} > 198\\.18\\.0\\.1\\.67`));
    assert.match(requests.at(-1)!, new RegExp(`${from} > 255\\.255\\.255\\.255\\.67`));
    // An expired lease is not renewed: the caller must acquire anew.
    const expired = await rejection(renewLease(opts, rebound, rebound.expiresAt));
    assert.equal(expired.code, 'SY_KERNEL');
    assert.match(expired.message, /expired/);
  });

  it('releases the lease: dnsmasq forgets it; a second release and a missing namespace are harmless', async () => {
    const mac = '02:5e:00:00:00:03';
    const ns = await w.endpoint(mac);
    const opts: DhcpInterface = { nsPath: w.nsPath(ns), ifName: 'eth0', mac };
    const lease = await acquireLease(opts);
    await configure(w, ns, lease);
    assert.ok(w.leases(dnsmasq()).some((l) => l.mac === mac));
    assert.equal(await releaseLease(opts, lease), true);
    await waitFor('dnsmasq to drop the released lease', async () => !w.leases(dnsmasq()).some((l) => l.mac === mac));
    assert.match(dnsmasq().log(), new RegExp(`DHCPRELEASE\\(eth0\\) ${lease.address.replaceAll('.', '\\.')} ${mac}`));
    assert.equal(await releaseLease(opts, lease), true);
    assert.equal(await releaseLease({ ...opts, nsPath: `/run/netns/${w.prefix}-gone` }, lease), false);
    assert.equal(await releaseLease({ ...opts, ifName: 'nosuch0' }, lease), false);
  });

  it('a renewal the server refuses (the address left its range) is a NAK, told apart by isDhcpRefusal', async () => {
    const mac = '02:5e:00:00:00:08';
    const ns = await w.endpoint(mac);
    const opts: DhcpInterface = { nsPath: w.nsPath(ns), ifName: 'eth0', mac };
    // A lease as hostd would have persisted it, for an address dnsmasq's range does not (or no longer) hold.
    const granted = await acquireLease(opts);
    const lease: Lease = { ...granted, address: '198.18.0.201' };
    await configure(w, ns, lease);
    const err = await rejection(renewLease(opts, lease));
    assert.equal(err.code, 'SY_KERNEL');
    assert.ok(isDhcpRefusal(err));
    assert.match(err.message, /^DHCP server "198\.18\.0\.1" refused to renew "198\.18\.0\.201" on "eth0" \(NAK: .+\)$/);
    assert.match(dnsmasq().log(), /DHCPNAK\(eth0\) 198\.18\.0\.201/);
  });

  it('honours a static reservation (dhcp-host=MAC,IP)', async () => {
    const ns = await w.endpoint(RESERVED_MAC);
    const lease = await acquireLease({ nsPath: w.nsPath(ns), ifName: 'eth0', mac: RESERVED_MAC });
    assert.equal(lease.address, RESERVED_ADDRESS);
    assert.equal(w.leases(dnsmasq()).find((l) => l.mac === RESERVED_MAC)?.address, RESERVED_ADDRESS);
  });

  it('asks for its old address first (INIT-REBOOT) and gets it back', async () => {
    const mac = '02:5e:00:00:00:04';
    const ns = await w.endpoint(mac);
    const opts: DhcpInterface = { nsPath: w.nsPath(ns), ifName: 'eth0', mac };
    const first = await acquireLease(opts);
    const again = await acquireLease({ ...opts, requestedAddress: first.address });
    assert.equal(again.address, first.address);
  });

  it('a NAK for an address the server does not allow is a clear refusal', async () => {
    const mac = '02:5e:00:00:00:05';
    const ns = await w.endpoint(mac);
    const err = await rejection(acquireLease({ nsPath: w.nsPath(ns), ifName: 'eth0', mac, requestedAddress: '198.18.0.200' }));
    assert.equal(err.code, 'SY_KERNEL');
    assert.ok(isDhcpRefusal(err), 'isDhcpRefusal tells a NAK from other failures');
    assert.match(err.message, /DHCP server "198\.18\.0\.1" refused to keep "198\.18\.0\.200" on "eth0" \(NAK/);
    assert.match(dnsmasq().log(), /DHCPNAK\(eth0\) 198\.18\.0\.200/);
    assert.ok(!w.leases(dnsmasq()).some((l) => l.mac === mac), 'no lease was made');
  });

  it('without a DHCP server: SY_TIMEOUT within the bound, nothing left running', async () => {
    const mac = '02:5e:00:00:00:06';
    const ns = await w.endpoint(mac, false);
    const timeoutMs = 1_500;
    const started = Date.now();
    const err = await rejection(acquireLease({ nsPath: w.nsPath(ns), ifName: 'eth0', mac, timeoutMs }));
    const took = Date.now() - started;
    assert.equal(err.code, 'SY_TIMEOUT');
    assert.match(err.message, /^No DHCP answer on "eth0" within 1\.5 s/);
    assert.ok(took >= timeoutMs, `waited the whole bound (${took} ms)`);
    // The bound plus the child's start; generous so a slow machine does not fail it.
    assert.ok(took < timeoutMs + 3_000, `gave up in ${took} ms`);
    assert.deepEqual(processesMentioning(EXCHANGE_PROGRAM), [], 'the exchange process is gone');
    assert.ok(!isDhcpRefusal(err));
  });

  it('reports a missing interface and a missing namespace clearly', async () => {
    const mac = '02:5e:00:00:00:07';
    const ns = await w.endpoint(mac);
    const noIf = await rejection(acquireLease({ nsPath: w.nsPath(ns), ifName: 'eth9', mac }));
    assert.equal(noIf.code, 'SY_KERNEL');
    assert.match(noIf.message, /No interface "eth9"/);
    const noNs = await rejection(acquireLease({ nsPath: `/run/netns/${w.prefix}-gone`, ifName: 'eth0', mac }));
    assert.equal(noNs.code, 'SY_NAMESPACE_NOT_FOUND');
  });
});

describe('DHCP client with a server that is not authoritative', () => {
  const { w, dnsmasq } = worldWithServer('b', [], { authoritative: false });

  it('asking for an address it does not know goes unanswered, then DISCOVER gets that address', async () => {
    const mac = '02:5e:00:00:01:01';
    const ns = await w.endpoint(mac);
    const wanted = '198.18.0.123';
    const lease = await acquireLease({ nsPath: w.nsPath(ns), ifName: 'eth0', mac, requestedAddress: wanted });
    assert.equal(lease.address, wanted);
    assert.equal(w.leases(dnsmasq()).find((l) => l.mac === mac)?.address, wanted);
    // The INIT-REBOOT request was ignored (no NAK, no ACK), the DISCOVER hinted the address.
    assert.doesNotMatch(dnsmasq().log(), /DHCPNAK/);
    assert.match(dnsmasq().log(), new RegExp(`DHCPDISCOVER\\(eth0\\) ${wanted.replaceAll('.', '\\.')} ${mac}`));
  });
});
