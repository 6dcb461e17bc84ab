/**
 * Transparent networks with an Ipam of Type DHCP, through hostd, on a fabric of network namespaces:
 * a fabric bridge (the physical network) with dnsmasq as its DHCP server and a peer, and a host whose
 * eth1 is on it (hostd inside). Each endpoint leases its address from dnsmasq with its own MAC; the
 * test reads dnsmasq's lease file and log to check what hostd reports: the lease on create, its
 * renewal (dnsmasq hands out a T1 of a few seconds), its release on delete, the same address after
 * a kill -9 and a restart (also with a lease that expired meanwhile), a refused renewal in Health.
 * A second host, first on a fabric with no DHCP server, shows the failures that leave nothing behind:
 * no answer within the bound, a crash at the lease port, a veth the kernel refuses after the lease
 * (the lease is given back).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/dataplane/run.js';
import { EXCHANGE_PROGRAM } from '../../src/dhcp/client.js';
import { DhcpWorld, DNS_SERVERS, DOMAIN, LEASE_SECONDS, RANGE, SERVER_ADDRESS, processesMentioning, requireRoot, waitFor, type Dnsmasq } from './dhcp-world.js';
import type { Hostd } from './world.js';
import { disagreements, listing } from './agreement.js';
import { CniHarness } from './cni.js';

const HOST_ADDRESS = '198.18.0.10';
const PEER_ADDRESS = '198.18.0.20';
/** dnsmasq's T1: renewals every few seconds, though the lease itself cannot be shorter than 2 min */
const T1_SECONDS = 3;

interface EpDoc {
  ID: string;
  MacAddress: string;
  IpConfigurations: { IpAddress: string; PrefixLength: number }[];
  Routes: { NextHop?: string; DestinationPrefix: string }[];
  Dns: { ServerList?: string[]; Domain?: string; Suffix?: string };
  Dhcp?: { Server: string; LeaseSeconds: number; ObtainedAt: string; RenewAt: string; ExpiresAt: string };
  Health: { Status: string; Reason?: string };
  State: string;
}

const macOf = (hcn: string) => hcn.toLowerCase().replaceAll('-', ':');
const esc = (s: string) => s.replaceAll('.', '\\.');

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  assert.fail('expected a rejection');
}

/** The IPv4 addresses, default route and links inside namespace `ns`. */
async function inside(ns: string) {
  const addrs = JSON.parse((await run(['ip', '-n', ns, '-j', 'addr', 'show'])).stdout) as { ifname: string; address?: string; addr_info: { family: string; local: string; prefixlen: number }[] }[];
  const route = (await run(['ip', '-n', ns, 'route', 'show', 'default'])).stdout.trim();
  return {
    links: addrs.map((a) => a.ifname).sort(),
    v4: addrs.flatMap((a) => a.addr_info.filter((i) => i.family === 'inet' && a.ifname !== 'lo').map((i) => `${a.ifname} ${i.local}/${i.prefixlen}`)),
    route,
  };
}

/** Links in hostd's namespace carrying a lease port's name. */
async function leasePorts(hostNs: string): Promise<string[]> {
  const links = JSON.parse((await run(['ip', '-n', hostNs, '-j', 'link', 'show'])).stdout) as { ifname: string }[];
  return links.map((l) => l.ifname).filter((n) => n.startsWith('sy-dh-'));
}

/** Removes the world (also after a failure) and fails the run if a namespace or an exchange process of it remains. */
async function cleanupChecked(w: DhcpWorld): Promise<void> {
  try {
    await w.cleanup();
  } finally {
    assert.deepEqual(w.leftovers(), [], 'namespaces of this run remain');
    assert.deepEqual(processesMentioning(EXCHANGE_PROGRAM), [], 'an exchange process is still running');
  }
}

describe('Transparent with DHCP: endpoints lease their addresses on the physical network', () => {
  const w = new DhcpWorld('t');
  let dnsmasq: Dnsmasq;
  let hostNs = '';
  let hostd: Hostd;
  let peer = '';

  const get = (id: string) => hostd.client.request<EpDoc>('GET', `/endpoints/${id}`);
  const ping = async (ns: string, to: string) => (await run(['busybox', 'ping', '-c', '1', '-W', '2', to], { netns: `/run/netns/${ns}`, okExitCodes: [1] })).exitCode === 0;
  const fileLease = (mac: string) => w.leases(dnsmasq).find((l) => l.mac === mac);

  async function endpoint(name: string): Promise<{ doc: EpDoc; ns: string }> {
    const ns = w.world.nsName(name);
    await hostd.client.request('POST', '/namespaces', { Path: ns });
    const doc = await hostd.client.request<EpDoc>('POST', '/endpoints', { Name: name, HostComputeNetwork: 'dh', HostComputeNamespace: ns });
    return { doc, ns };
  }

  before(async () => {
    requireRoot();
    await w.build();
    dnsmasq = await w.startDnsmasq([`--dhcp-option=option:T1,${T1_SECONDS}`, `--dhcp-option=option:T2,${T1_SECONDS * 2}`]);
    hostNs = await w.world.addNs('host');
    await w.ip(w.fabric, `link add p-host type veth peer name eth1 netns ${hostNs}`, 'link set p-host master br0', 'link set p-host up');
    await w.ip(hostNs, `addr add ${HOST_ADDRESS}/24 dev eth1`, 'link set eth1 up');
    peer = await w.endpoint('02:5e:00:00:02:01');
    await w.ip(peer, `addr add ${PEER_ADDRESS}/24 dev eth0`);
    hostd = await w.world.startHostd(hostNs);
  });
  after(() => cleanupChecked(w));

  const adapter = { Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } };

  it('refuses DHCP where it cannot be, and endpoints it cannot lease for, changing nothing', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ Name: 'x', Type: 'L2Bridge', Policies: [adapter], Ipams: [{ Type: 'DHCP' }] }, 'SY_NOT_SUPPORTED', /DHCP" is for Transparent/],
      [{ Name: 'x', Type: 'Transparent', Policies: [adapter], Ipams: [{ Type: 'DHCP' }, { Type: 'Static', Subnets: [{ IpAddressPrefix: '198.18.0.0/24' }] }] }, 'SY_NOT_SUPPORTED', /DHCP" or "Static/],
      [{ Name: 'x', Type: 'Transparent', Policies: [adapter], Ipams: [{ Type: 'Bootp' }] }, 'SY_NOT_SUPPORTED', /"Bootp" is not supported/],
    ];
    for (const [doc, code, msg] of cases) {
      const e = await rejection(hostd.client.request('POST', '/networks', doc));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, msg);
    }
    assert.deepEqual(await hostd.client.request('GET', '/networks'), []);
    const net = await hostd.client.request<{ Ipams: { Type: string; Subnets: { IpAddressPrefix: string }[] }[] }>('POST', '/networks', { Name: 'dh', Type: 'Transparent', Policies: [adapter], Ipams: [{ Type: 'DHCP' }] });
    assert.equal(net.Ipams[0]!.Type, 'DHCP');
    assert.equal(net.Ipams[0]!.Subnets[0]!.IpAddressPrefix, '198.18.0.0/24', "the physical network's prefix, from the adapter's address");
    const noNs = await rejection(hostd.client.request('POST', '/endpoints', { Name: 'nons', HostComputeNetwork: 'dh' }));
    assert.equal(noNs.code, 'SY_BAD_REQUEST');
    assert.match(noNs.message, /give HostComputeNamespace/);
    const ns = w.world.nsName('asks');
    await hostd.client.request('POST', '/namespaces', { Path: ns });
    const asks = await rejection(hostd.client.request('POST', '/endpoints', { Name: 'asks', HostComputeNetwork: 'dh', HostComputeNamespace: ns, IpConfigurations: [{ IpAddress: '198.18.0.120' }] }));
    assert.equal(asks.code, 'SY_BAD_REQUEST');
    assert.match(asks.message, /server chooses the address/);
    assert.deepEqual(await hostd.client.request('GET', '/endpoints'), []);
    assert.deepEqual((await inside(ns)).links, ['lo']);
    assert.deepEqual(w.leases(dnsmasq), [], 'no lease was taken');
  });

  let first: { doc: EpDoc; ns: string };

  it('create returns the lease dnsmasq gave (address, prefix, router, DNS), configured in the endpoint, which reaches a peer', async () => {
    first = await endpoint('d1');
    const { doc, ns } = first;
    const mac = macOf(doc.MacAddress);
    const recorded = fileLease(mac);
    assert.ok(recorded, `dnsmasq leased to the endpoint's MAC ${mac}: ${JSON.stringify(w.leases(dnsmasq))}`);
    const ip = doc.IpConfigurations[0]!;
    assert.equal(ip.IpAddress, recorded.address);
    const last = Number(ip.IpAddress.split('.')[3]);
    assert.ok(last >= Number(RANGE[0].split('.')[3]) && last <= Number(RANGE[1].split('.')[3]), `${ip.IpAddress} in dnsmasq's range`);
    assert.equal(ip.PrefixLength, 24);
    assert.deepEqual(doc.Routes, [{ NextHop: SERVER_ADDRESS, DestinationPrefix: '0.0.0.0/0' }]);
    assert.deepEqual(doc.Dns.ServerList, DNS_SERVERS);
    assert.equal(doc.Dns.Suffix ?? doc.Dns.Domain, DOMAIN);
    assert.equal(doc.Dhcp?.Server, SERVER_ADDRESS);
    assert.equal(doc.Dhcp?.LeaseSeconds, LEASE_SECONDS);
    assert.equal(doc.Health.Status, 'Ready');
    // The exchange came from the endpoint's own MAC (the lease file says so) and the server saw
    // the endpoint's name as its host name.
    assert.equal(recorded.hostname, 'd1');
    assert.match(dnsmasq.log(), new RegExp(`DHCPDISCOVER\\(eth0\\) ${mac}`));
    // In the endpoint: the leased address, the router as default route, resolv.conf from the lease.
    const k = await inside(ns);
    assert.deepEqual(k.v4, [`eth0 ${ip.IpAddress}/24`]);
    assert.match(k.route, new RegExp(`^default via ${esc(SERVER_ADDRESS)} dev eth0`));
    const resolv = readFileSync(`/etc/netns/${ns}/resolv.conf`, 'utf8');
    for (const s of DNS_SERVERS) assert.match(resolv, new RegExp(`nameserver ${esc(s)}`));
    assert.match(resolv, new RegExp(`search ${esc(DOMAIN)}`));
    assert.ok(await ping(ns, PEER_ADDRESS), 'the endpoint reaches a peer on the fabric');
    assert.ok(await ping(peer, ip.IpAddress), 'the peer reaches the endpoint at its leased address');
    assert.deepEqual(await leasePorts(hostNs), [], 'no lease port is left');
  });

  it('renews the lease while the endpoint lives: dnsmasq extends it, the endpoint shows the new times', async () => {
    const { doc } = first;
    const mac = macOf(doc.MacAddress);
    const before = fileLease(mac)!.expires;
    const obtained = doc.Dhcp!.ObtainedAt;
    // T1 is a few seconds: the renewal is due soon; dnsmasq writes its expiry in whole seconds.
    await waitFor('a renewal stored by hostd', async () => (await get(doc.ID)).Dhcp!.ObtainedAt !== obtained, 20_000);
    await waitFor('dnsmasq to extend the lease', async () => fileLease(mac)!.expires > before, 10_000);
    const now = await get(doc.ID);
    assert.equal(now.IpConfigurations[0]!.IpAddress, doc.IpConfigurations[0]!.IpAddress);
    assert.ok(Date.parse(now.Dhcp!.ExpiresAt) > Date.parse(doc.Dhcp!.ExpiresAt));
    assert.match(dnsmasq.log(), new RegExp(`DHCPREQUEST\\(eth0\\) ${esc(doc.IpConfigurations[0]!.IpAddress)} ${mac}`));
    assert.equal(now.Health.Status, 'Ready');
  });

  it('after kill -9 and a restart the endpoint keeps its address and renewing goes on', async () => {
    const { doc, ns } = first;
    const addr = doc.IpConfigurations[0]!.IpAddress;
    await w.world.stopHostd(hostd, 'SIGKILL');
    assert.deepEqual((await inside(ns)).v4, [`eth0 ${addr}/24`], 'the kernel keeps the address while hostd is away');
    const down = Date.now();
    hostd = await w.world.startHostd(hostNs, { stateDir: hostd.stateDir });
    const again = await get(doc.ID);
    assert.equal(again.IpConfigurations[0]!.IpAddress, addr);
    assert.deepEqual((await inside(ns)).v4, [`eth0 ${addr}/24`]);
    await waitFor('a renewal after the restart', async () => Date.parse((await get(doc.ID)).Dhcp!.ObtainedAt) > down, 20_000);
    assert.ok(await ping(ns, PEER_ADDRESS));
    const diffs = await disagreements(await listing(hostd.client), { hostNs, stateDir: hostd.stateDir, prefix: w.prefix, testNamespaces: [w.fabric, w.server, hostNs, peer] });
    assert.deepEqual(diffs, []);
  });

  it('a lease that expired while hostd was down is asked for again at start (INIT-REBOOT) and kept', async () => {
    const { doc, ns } = first;
    const addr = doc.IpConfigurations[0]!.IpAddress;
    await w.world.stopHostd(hostd, 'SIGKILL');
    // What hostd stored, aged past its expiry (as after a long stop).
    const file = join(hostd.stateDir, 'endpoints', `${doc.ID}.json`);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { record: { dhcp: { renewAt: number; rebindAt: number; expiresAt: number; obtainedAt: number } } };
    const past = Date.now() - 1_000;
    Object.assign(stored.record.dhcp, { obtainedAt: past - 120_000, renewAt: past - 60_000, rebindAt: past - 10_000, expiresAt: past });
    writeFileSync(file, JSON.stringify(stored));
    const logBefore = dnsmasq.log().length;
    hostd = await w.world.startHostd(hostNs, { stateDir: hostd.stateDir });
    await waitFor('the lease asked for again', async () => Date.parse((await get(doc.ID)).Dhcp!.ExpiresAt) > Date.now(), 20_000);
    const now = await get(doc.ID);
    assert.equal(now.IpConfigurations[0]!.IpAddress, addr);
    assert.equal(now.Health.Status, 'Ready');
    assert.deepEqual((await inside(ns)).v4, [`eth0 ${addr}/24`]);
    // INIT-REBOOT: a REQUEST for the old address without a DISCOVER before it.
    const since = dnsmasq.log().slice(logBefore);
    assert.match(since, new RegExp(`DHCPREQUEST\\(eth0\\) ${esc(addr)} ${macOf(doc.MacAddress)}`));
    assert.doesNotMatch(since, /DHCPDISCOVER/);
  });

  it('a second endpoint gets its own lease; deleting it releases the lease (dnsmasq forgets it) and leaves nothing', async () => {
    const { doc, ns } = await endpoint('d2');
    const mac = macOf(doc.MacAddress);
    assert.notEqual(doc.IpConfigurations[0]!.IpAddress, first.doc.IpConfigurations[0]!.IpAddress);
    assert.equal(fileLease(mac)?.address, doc.IpConfigurations[0]!.IpAddress);
    await hostd.client.request('DELETE', `/endpoints/${doc.ID}`);
    await waitFor('dnsmasq to drop the released lease', async () => !fileLease(mac));
    assert.match(dnsmasq.log(), new RegExp(`DHCPRELEASE\\(eth0\\) ${esc(doc.IpConfigurations[0]!.IpAddress)} ${mac}`));
    assert.deepEqual((await inside(ns)).links, ['lo']);
    assert.ok(fileLease(macOf(first.doc.MacAddress)), "the other endpoint's lease stays");
  });

  it('a delete while a renewal is in flight waits for it, then releases (no deadlock with storing the renewed lease)', async () => {
    const { doc, ns } = await endpoint('d3');
    const mac = macOf(doc.MacAddress);
    const inode = statSync(`/run/netns/${ns}`).ino;
    const exchangeInD3 = () => processesMentioning(EXCHANGE_PROGRAM).some((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/net`) === `net:[${inode}]`;
      } catch {
        return false;
      }
    });
    // The server pauses: the next renewal of d3 waits for an answer, the delete comes meanwhile,
    // and the server answers the renewal once it goes on (its request waits in the socket).
    process.kill(dnsmasq.pid, 'SIGSTOP');
    let deleted: Promise<unknown> | undefined;
    try {
      await waitFor('a renewal of d3 in flight', async () => exchangeInD3(), 15_000);
      deleted = hostd.client.request('DELETE', `/endpoints/${doc.ID}`);
    } finally {
      process.kill(dnsmasq.pid, 'SIGCONT');
    }
    await deleted;
    await waitFor('dnsmasq to drop the released lease', async () => !fileLease(mac));
    assert.deepEqual((await inside(ns)).links, ['lo']);
    assert.ok(!exchangeInD3());
    assert.equal((await get(first.doc.ID)).Health.Status, 'Ready', 'the API still answers; the other endpoint is fine');
  });

  it('through the CNI plugin (ipam type dhcp): ADD returns the lease dnsmasq gave, DEL releases it', async () => {
    const cni = new CniHarness(w.world, hostNs);
    const ctr = await cni.container('cc');
    const conf = { cniVersion: '1.1.0', name: 'dh', type: 'switchyard', mode: 'transparent', master: 'eth1', ipam: { type: 'dhcp' }, socket: hostd.socket };
    const add = await cni.call({ command: 'ADD', containerId: 'cc', netns: ctr, conf });
    assert.equal(add.exit, 0, add.stdout + add.stderr);
    const r = add.json as { interfaces: { mac?: string }[]; ips: { address: string; gateway?: string }[]; dns: { nameservers?: string[] } };
    const mac = r.interfaces[1]!.mac!;
    const recorded = fileLease(mac);
    assert.ok(recorded, `dnsmasq leased to the container's MAC ${mac}`);
    assert.deepEqual(r.ips, [{ address: `${recorded.address}/24`, gateway: SERVER_ADDRESS, interface: 1 }]);
    assert.deepEqual(r.dns.nameservers, DNS_SERVERS);
    assert.ok(await ping(ctr.replace('/run/netns/', ''), PEER_ADDRESS));
    const del = await cni.call({ command: 'DEL', containerId: 'cc', netns: ctr, conf });
    assert.equal(del.exit, 0, del.stdout + del.stderr);
    await waitFor('dnsmasq to drop the released lease', async () => !fileLease(mac));
    assert.deepEqual((await inside(ctr.replace('/run/netns/', ''))).links, ['lo']);
  });

  it('a renewal the server refuses (NAK) is the endpoint\'s Health, not ignored', async () => {
    const { doc } = first;
    // The server restarted with the endpoint's MAC reserved for another address: it refuses the renewal.
    const addr = doc.IpConfigurations[0]!.IpAddress;
    const other = `198.18.0.${Number(addr.split('.')[3]) === 149 ? 148 : 149}`;
    const exited = new Promise((r) => dnsmasq.proc.once('exit', r));
    dnsmasq.proc.kill('SIGTERM');
    await exited;
    dnsmasq = await w.startDnsmasq([`--dhcp-option=option:T1,${T1_SECONDS}`, `--dhcp-option=option:T2,${T1_SECONDS * 2}`, `--dhcp-host=${macOf(doc.MacAddress)},${other}`]);
    await waitFor('the refusal in Health', async () => (await get(doc.ID)).Health.Status === 'Error', 20_000);
    const now = await get(doc.ID);
    assert.match(now.Health.Reason ?? '', new RegExp(`refused the lease of ${esc(doc.IpConfigurations[0]!.IpAddress)} .*NAK`));
    assert.equal(now.State, 'Degraded');
    assert.match(dnsmasq.log(), new RegExp(`DHCPNAK\\(eth0\\) ${esc(doc.IpConfigurations[0]!.IpAddress)}`));
    await hostd.client.request('DELETE', `/endpoints/${doc.ID}`);
    assert.deepEqual((await inside(first.ns)).links, ['lo']);
    assert.deepEqual(await leasePorts(hostNs), []);
  });
});

describe('Transparent with DHCP: failures leave nothing behind (no server, a crash, a refused veth)', () => {
  const w = new DhcpWorld('u');
  let hostNs = '';
  let hostd: Hostd;

  before(async () => {
    requireRoot();
    await w.build();
    hostNs = await w.world.addNs('host');
    await w.ip(w.fabric, `link add p-host type veth peer name eth1 netns ${hostNs}`, 'link set p-host master br0', 'link set p-host up');
    await w.ip(hostNs, 'link set eth1 up');
    hostd = await w.world.startHostd(hostNs, { args: ['--dhcp-timeout', '1.5'] });
  });
  after(() => cleanupChecked(w));

  it('an adapter without an address needs the prefix given; then endpoint create fails with SY_TIMEOUT in the bound and nothing is left', async () => {
    const adapter = { Type: 'NetAdapterName', Settings: { NetworkAdapterName: 'eth1' } };
    const noPrefix = await rejection(hostd.client.request('POST', '/networks', { Name: 'dh', Type: 'Transparent', Policies: [adapter], Ipams: [{ Type: 'DHCP' }] }));
    assert.equal(noPrefix.code, 'SY_BAD_REQUEST');
    assert.match(noPrefix.message, /IpAddressPrefix/);
    const made = await w.world.cli(hostd, 'network', 'create', '--type', 'transparent', '--adapter', 'eth1', '--dhcp', '--subnet', '198.18.0.0/24', 'dh');
    assert.equal(made.code, 0, made.stderr);
    const net = await hostd.client.request<{ Ipams: unknown }>('GET', '/networks/dh');
    assert.deepEqual(net.Ipams, [{ Type: 'DHCP', Subnets: [{ IpAddressPrefix: '198.18.0.0/24' }] }]);
    // A namespace of the test's own, adopted by the request (as the CNI plugin does): not kept either.
    const ns = await w.world.addNs('c1');
    const stateFiles = () => readdirSync(join(hostd.stateDir, 'endpoints')).concat(readdirSync(join(hostd.stateDir, 'namespaces')));
    const filesBefore = stateFiles();
    const e = await rejection(hostd.client.request('POST', '/endpoints', { Name: 'c1', HostComputeNetwork: 'dh', HostComputeNamespace: ns, AdoptNamespace: true }));
    assert.equal(e.code, 'SY_TIMEOUT', e.message);
    assert.match(e.message, /^No DHCP server answered for MAC 02:44:[0-9a-f:]{11} within 1\.5 s .*Nothing was created/);
    assert.deepEqual(await hostd.client.request('GET', '/endpoints'), []);
    assert.deepEqual(await hostd.client.request('GET', '/namespaces'), []);
    assert.deepEqual(stateFiles(), filesBefore, 'nothing stored');
    assert.deepEqual((await inside(ns)).links, ['lo'], 'no interface left in the namespace');
    assert.deepEqual(await leasePorts(hostNs), [], 'no lease port left');
    const owned = JSON.parse((await run(['ip', '-n', hostNs, '-j', 'link', 'show'])).stdout) as { ifname: string }[];
    assert.deepEqual(owned.map((l) => l.ifname).filter((n) => n.startsWith('sy-ep-')), [], 'no endpoint veth');
    assert.deepEqual(processesMentioning(EXCHANGE_PROGRAM), [], 'no exchange process left');
    assert.ok(!existsSync(`/etc/netns/${ns}/resolv.conf`));
  });

  it('a crash in the middle of the exchange leaves a lease port, which the next start removes', async () => {
    await w.world.stopHostd(hostd, 'SIGTERM');
    // Counting from SIGUSR2 and no resync meanwhile: step 1 is the lease port's, just made.
    const crashing = await w.world.startHostd(hostNs, { stateDir: hostd.stateDir, resyncSeconds: 600, env: { SWITCHYARD_FAULT: 'crash-at:1,on-signal' }, args: ['--dhcp-timeout', '1.5'] });
    await w.world.armFault(crashing);
    const ns = await w.world.addNs('c2');
    await assert.rejects(crashing.client.request('POST', '/endpoints', { Name: 'c2', HostComputeNetwork: 'dh', HostComputeNamespace: ns, AdoptNamespace: true }));
    await waitFor('hostd to crash', async () => crashing.proc.signalCode !== null || crashing.proc.exitCode !== null);
    assert.match(crashing.log(), /fault step 1: dhcp: exchange through sy-dh-/);
    assert.equal((await leasePorts(hostNs)).length, 1, 'the crash left the lease port');
    assert.deepEqual((await inside(ns)).links, ['eth0', 'lo']);
    hostd = await w.world.startHostd(hostNs, { stateDir: hostd.stateDir, args: ['--dhcp-timeout', '1.5'] });
    assert.deepEqual(await leasePorts(hostNs), [], 'the start removed it');
    assert.deepEqual((await inside(ns)).links, ['lo']);
    assert.deepEqual(await hostd.client.request('GET', '/endpoints'), []);
    assert.deepEqual(await hostd.client.request('GET', '/namespaces'), []);
  });

  it('a create the kernel refuses after the lease gives the lease back: dnsmasq forgets it, nothing is left', async () => {
    // A server now, and no resync that could remove the link planted below before the request.
    await w.world.stopHostd(hostd, 'SIGTERM');
    const dnsmasq = await w.startDnsmasq();
    hostd = await w.world.startHostd(hostNs, { stateDir: hostd.stateDir, resyncSeconds: 600 });
    const id = 'dddddddd-0000-4000-8000-000000000001';
    const mac = '02:44:dd:dd:dd:dd';
    // The endpoint's veth name is taken: the kernel refuses its veth once the lease is there.
    await w.ip(hostNs, 'link add sy-ep-dddddddd type veth peer name planted0');
    const ns = await w.world.addNs('c3');
    const e = await rejection(hostd.client.request('POST', '/endpoints', { ID: id, Name: 'c3', HostComputeNetwork: 'dh', HostComputeNamespace: ns, AdoptNamespace: true }));
    assert.equal(e.code, 'SY_KERNEL', e.message);
    assert.match(dnsmasq.log(), new RegExp(`DHCPACK\\(eth0\\) [0-9.]+ ${mac}`), 'a lease was granted first');
    assert.match(dnsmasq.log(), new RegExp(`DHCPRELEASE\\(eth0\\) [0-9.]+ ${mac}`));
    assert.ok(!w.leases(dnsmasq).some((l) => l.mac === mac), 'dnsmasq holds no lease for the MAC');
    assert.deepEqual(await hostd.client.request('GET', '/endpoints'), []);
    assert.deepEqual(await hostd.client.request('GET', '/namespaces'), []);
    assert.deepEqual((await inside(ns)).links, ['lo']);
    assert.deepEqual(await leasePorts(hostNs), []);
  });
});
