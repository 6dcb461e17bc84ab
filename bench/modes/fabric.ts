/**
 * The fabric of the modes benchmark, made of namespaces of this run only:
 *  - `fab`: the physical switch, a Linux bridge fab0 whose ports are veths to every host adapter and
 *    to the peer;
 *  - `peer`: a machine on the wire (eth1 with 10.0.N.1/24 for every subnet N below) that runs
 *    `iperf3 -s`; for the uplink networks it is also their gateway;
 *  - `host`: hostd's host, with three adapters into the fabric (eth1, eth2, eth3, one per mode: an
 *    adapter serves one network), each holding the host's own address 10.0.N.11/24 (eth1 also the
 *    default route), which hostd moves onto the network's switch bridge;
 *  - `bare`: a second host with two adapters (eth4, eth5) into the same fabric, where the hand-made
 *    baselines live: a macvlan (bridge mode) on eth4, a Linux bridge with eth5 and a veth. They are in
 *    a namespace of their own because nftables' bridge-family hooks (hostd's anti-spoofing chain)
 *    see every bridge of a namespace: in hostd's namespace the bare bridge would not be bare.
 * Every adapter is the same kind of link (a veth into fab0), so the Switchyard paths and the bare
 * ones cross the same hops to the peer but for what each setup adds on its host.
 */
import type { HostdClient } from '../hostd/client.js';
import { exec, netnsPath } from '../lib/exec.js';
import { addNetns } from '../lib/netns.js';
import type { Teardown } from '../lib/teardown.js';
import { IPERF_PORT } from '../throughput/iperf.js';
import type { Scenario } from '../throughput/topologies.js';

export type Mode = 'Transparent' | 'L2Bridge' | 'L2Tunnel';
export const MODES: readonly Mode[] = ['Transparent', 'L2Bridge', 'L2Tunnel'];

/** Which adapter and subnet (10.0.N.0/24) each setup has; the peer is 10.0.N.1 on every one. */
export const SUBNET_OF = { Transparent: 1, L2Bridge: 2, L2Tunnel: 3, macvlan: 4, bridge: 5 } as const;
export const ADAPTER_OF: Record<Mode, string> = { Transparent: 'eth1', L2Bridge: 'eth2', L2Tunnel: 'eth3' };
/** the adapter on which each mode's network create and delete is timed (it holds the default route) */
export const TIMED_ADAPTER = 'eth1';

export const peerIp = (n: number) => `10.0.${n}.1`;
export const hostIp = (n: number) => `10.0.${n}.11`;
/** throughput endpoints are .50 in their subnet; lifecycle endpoints .100 + seq */
export const TPUT_HOST = 50;

export interface Fabric {
  fab: string;
  peer: string;
  host: string;
  bare: string;
}

export async function ipBatch(netns: string, lines: string[], force = false): Promise<void> {
  await exec(['ip', '-n', netns, ...(force ? ['-force'] : []), '-batch', '-'], { stdin: lines.join('\n') + '\n' });
}

/** A veth from fab0 to `ns` named `ifname` there, up, no address. */
async function plug(fab: string, ns: string, port: string, ifname: string): Promise<void> {
  await ipBatch(fab, [`link add ${port} type veth peer name ${ifname} netns ${ns}`, `link set ${port} master fab0 up`]);
  await ipBatch(ns, [`link set ${ifname} up`]);
}

/** Builds fab, peer and bare, and plugs hostd's namespace `host` (already made, hostd running) in. */
export async function buildFabric(prefix: string, host: string, td: Teardown): Promise<Fabric> {
  const fab = await addNetns(`${prefix}fab`, td);
  const peer = await addNetns(`${prefix}peer`, td);
  const bare = await addNetns(`${prefix}bare`, td);
  await ipBatch(fab, ['link add fab0 type bridge', 'link set fab0 up']);
  await plug(fab, peer, 'fab-peer', 'eth1');
  await ipBatch(peer, Object.values(SUBNET_OF).map((n) => `addr add ${peerIp(n)}/24 dev eth1`));
  for (const m of MODES) {
    const dev = ADAPTER_OF[m];
    await plug(fab, host, `fab-h${dev.slice(3)}`, dev);
    await ipBatch(host, [`addr add ${hostIp(SUBNET_OF[m])}/24 dev ${dev}`]);
  }
  await ipBatch(host, [`route add default via ${peerIp(SUBNET_OF.Transparent)} dev eth1`]);
  await plug(fab, bare, 'fab-b4', 'eth4');
  await plug(fab, bare, 'fab-b5', 'eth5');
  return { fab, peer, host, bare };
}

/** The HCN document of `mode`'s network on `adapter`, subnet 10.0.N.0/24 with the peer as gateway. */
export function uplinkNetworkDoc(name: string, mode: Mode, adapter: string, n: number): Record<string, unknown> {
  return {
    Name: name,
    Type: mode,
    Policies: [{ Type: 'NetAdapterName', Settings: { NetworkAdapterName: adapter } }],
    Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: `10.0.${n}.0/24`, Routes: [{ NextHop: peerIp(n), DestinationPrefix: '0.0.0.0/0' }] }] }],
  };
}

/** Creates `mode`'s network on its own adapter; the teardown deletes it (before hostd stops). */
export async function createModeNetwork(api: HostdClient, mode: Mode, td: Teardown): Promise<string> {
  const net = await api.call<{ ID: string }>('POST', '/networks', uplinkNetworkDoc(`tput-${mode.toLowerCase()}`, mode, ADAPTER_OF[mode], SUBNET_OF[mode]));
  td.defer(`hostd: delete network ${mode}`, async () => {
    await api.deleteNetwork(net.ID);
  });
  return net.ID;
}

/** An endpoint on `networkId` in a fresh namespace `<prefix><suffix>` with a static address. */
export async function hostdEndpoint(api: HostdClient, prefix: string, suffix: string, networkId: string, ip: string, td: Teardown): Promise<string> {
  const netns = await addNetns(`${prefix}${suffix}`, td);
  const ns = await api.createNamespace(netnsPath(netns));
  td.defer(`hostd: delete namespace ${ns.ID}`, async () => {
    await api.deleteNamespace(ns.ID);
  });
  const ep = await api.call<{ ID: string }>('POST', '/endpoints', {
    Name: `ep-${suffix}`,
    HostComputeNetwork: networkId,
    HostComputeNamespace: ns.ID,
    IpConfigurations: [{ IpAddress: ip, PrefixLength: 24 }],
  });
  td.defer(`hostd: delete endpoint ${ep.ID}`, async () => {
    await api.deleteEndpoint(ep.ID);
  });
  return netns;
}

export const scenarioKey = (mode: Mode) => `sy-${mode.toLowerCase()}`;

/** The three Switchyard scenarios: one endpoint per mode's network → the peer. */
export async function buildSwitchyardScenarios(api: HostdClient, prefix: string, f: Fabric, td: Teardown): Promise<Scenario[]> {
  const out: Scenario[] = [];
  for (const mode of MODES) {
    const n = SUBNET_OF[mode];
    const id = await createModeNetwork(api, mode, td);
    const netns = await hostdEndpoint(api, prefix, `t-${mode.toLowerCase()}`, id, `10.0.${n}.${TPUT_HOST}`, td);
    out.push({ key: scenarioKey(mode), title: `Switchyard ${mode} (endpoint on ${ADAPTER_OF[mode]}) → peer`, serverNetns: f.peer, clientNetns: netns, host: peerIp(n), port: IPERF_PORT });
  }
  return out;
}

/** The bare baselines in `bare`: a macvlan (bridge mode) on eth4, a bridge with eth5 and one veth. */
export async function buildBareScenarios(prefix: string, f: Fabric, td: Teardown): Promise<Scenario[]> {
  const mv = await addNetns(`${prefix}t-macvlan`, td);
  const mvN = SUBNET_OF.macvlan;
  await ipBatch(f.bare, ['link add mv0 link eth4 type macvlan mode bridge', `link set mv0 netns ${mv}`]);
  await ipBatch(mv, ['link set mv0 name eth0', `addr add 10.0.${mvN}.${TPUT_HOST}/24 dev eth0`, 'link set eth0 up', `route add default via ${peerIp(mvN)}`]);
  const br = await addNetns(`${prefix}t-bridge`, td);
  const brN = SUBNET_OF.bridge;
  await ipBatch(f.bare, [
    'link add br0 type bridge',
    'link set br0 up',
    'link set eth5 master br0',
    `link add vb0 type veth peer name eth0 netns ${br}`,
    'link set vb0 master br0 up',
  ]);
  await ipBatch(br, [`addr add 10.0.${brN}.${TPUT_HOST}/24 dev eth0`, 'link set eth0 up', `route add default via ${peerIp(brN)}`]);
  return [
    { key: 'bare-macvlan', title: 'bare macvlan (bridge mode) on eth4 → peer', serverNetns: f.peer, clientNetns: mv, host: peerIp(mvN), port: IPERF_PORT },
    { key: 'bare-bridge', title: 'bare bridge (eth5 + veth, no nft) → peer', serverNetns: f.peer, clientNetns: br, host: peerIp(brN), port: IPERF_PORT },
  ];
}
