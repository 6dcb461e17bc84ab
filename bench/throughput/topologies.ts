/**
 * The namespaces and links compared in (b). Each builder returns the scenarios it serves: where the
 * iperf3 server runs, where the client runs and which address and port it dials.
 *  - bare veth: two namespaces joined by one veth pair;
 *  - bare bridge: two namespaces veth'd to a Linux bridge in a third, no nftables anywhere;
 *  - hostd: two endpoints on hostd's NAT network (endpoint → endpoint), and an "outside" namespace
 *    joined to hostd's host namespace by a veth pair (198.18.0.2 → 198.18.0.1:published port).
 */
import type { HostdWorld } from '../hostd/world.js';
import { endpointIp } from '../hostd/client.js';
import { exec, netnsPath } from '../lib/exec.js';
import { addNetns } from '../lib/netns.js';
import type { Teardown } from '../lib/teardown.js';
import { IPERF_PORT } from './iperf.js';

export interface Scenario {
  key: string;
  title: string;
  serverNetns: string;
  clientNetns: string;
  host: string;
  port: number;
}

async function ipBatch(netns: string, lines: string[]): Promise<void> {
  await exec(['ip', '-n', netns, '-batch', '-'], { stdin: lines.join('\n') + '\n' });
}

export async function buildBareVeth(prefix: string, td: Teardown): Promise<Scenario> {
  const a = await addNetns(`${prefix}va`, td);
  const b = await addNetns(`${prefix}vb`, td);
  await ipBatch(a, [`link add v0 type veth peer name v0 netns ${b}`, 'addr add 10.97.0.1/24 dev v0', 'link set v0 up']);
  await ipBatch(b, ['addr add 10.97.0.2/24 dev v0', 'link set v0 up']);
  return { key: 'veth', title: 'bare veth pair', serverNetns: a, clientNetns: b, host: '10.97.0.1', port: IPERF_PORT };
}

export async function buildBareBridge(prefix: string, td: Teardown): Promise<Scenario> {
  const br = await addNetns(`${prefix}br`, td);
  const a = await addNetns(`${prefix}ba`, td);
  const b = await addNetns(`${prefix}bb`, td);
  await ipBatch(br, [
    'link add br0 type bridge',
    'link set br0 up',
    `link add pa type veth peer name eth0 netns ${a}`,
    `link add pb type veth peer name eth0 netns ${b}`,
    'link set pa master br0 up',
    'link set pb master br0 up',
  ]);
  await ipBatch(a, ['addr add 10.96.0.2/24 dev eth0', 'link set eth0 up']);
  await ipBatch(b, ['addr add 10.96.0.3/24 dev eth0', 'link set eth0 up']);
  return { key: 'bridge', title: 'bare Linux bridge (no nft)', serverNetns: a, clientNetns: b, host: '10.96.0.2', port: IPERF_PORT };
}

/** Host port that hostd publishes for the server endpoint's iperf3 port. */
export const PUBLISHED_PORT = 15201;

export async function buildHostd(prefix: string, world: HostdWorld, td: Teardown): Promise<Scenario[]> {
  const api = world.hostd.client;
  const endpoint = async (suffix: string, ports: { externalPort: number; internalPort: number }[]) => {
    const netns = await addNetns(`${prefix}${suffix}`, td);
    const ns = await api.createNamespace(netnsPath(netns));
    td.defer(`hostd: delete namespace ${ns.ID}`, async () => {
      await api.deleteNamespace(ns.ID);
    });
    const ep = await api.createEndpoint(`tput-${suffix}`, world.networkId, ns.ID, ports);
    td.defer(`hostd: delete endpoint ${ep.ID}`, async () => {
      await api.deleteEndpoint(ep.ID);
    });
    return { netns, ip: endpointIp(ep) };
  };
  const server = await endpoint('t1', [{ externalPort: PUBLISHED_PORT, internalPort: IPERF_PORT }]);
  const client = await endpoint('t2', []);
  const outside = await addNetns(`${prefix}out`, td);
  await ipBatch(world.netns, [
    `link add bench-out0 type veth peer name out0 netns ${outside}`,
    'addr add 198.18.0.1/24 dev bench-out0',
    'link set bench-out0 up',
  ]);
  await ipBatch(outside, ['addr add 198.18.0.2/24 dev out0', 'link set out0 up']);
  return [
    { key: 'hostd-e2e', title: 'hostd NAT: endpoint → endpoint', serverNetns: server.netns, clientNetns: client.netns, host: server.ip, port: IPERF_PORT },
    {
      key: 'hostd-published',
      title: `hostd NAT: outside → 198.18.0.1:${PUBLISHED_PORT} (published)`,
      serverNetns: server.netns,
      clientNetns: outside,
      host: '198.18.0.1',
      port: PUBLISHED_PORT,
    },
  ];
}
