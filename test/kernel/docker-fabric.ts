/**
 * The physical network of the uplink tests (Docker's l2bridge/transparent drivers, the CNI plugin's
 * uplink modes): the test host's eth1 (10.0.0.11/24) is a veth into a "fabric" namespace holding the
 * peer 10.0.0.1, the segment's router, which serves `PEER_PAGE` on port 8000. Both ends are made
 * inside the test's namespaces (world.ts removes them). With `{ upstreamSwitch: true }` the fabric
 * end is a port of a bridge (the physical switch, holding the peer's address) whose hairpin
 * `upstreamHairpin` turns on: the upstream switch of L2Tunnel, sending same-host frames back.
 */
import { run } from '../../src/dataplane/run.js';
import type { World } from './world.js';

export const PEER_PAGE = 'hello-from-the-peer';

/** Adds the fabric namespace and the eth1 ⇄ p0 pair; `hostLines` are more `ip` lines for the host. */
export async function uplinkFabric(w: World, host: string, hostLines: string[] = [], opts: { upstreamSwitch?: boolean } = {}): Promise<string> {
  const fabric = await w.addNs('fab');
  await w.ip(host, `link add eth1 type veth peer name p0 netns ${fabric}`, 'addr add 10.0.0.11/24 dev eth1', 'link set eth1 up', ...hostLines);
  if (opts.upstreamSwitch) await w.ip(fabric, 'link add fab0 type bridge', 'link set fab0 up', 'link set p0 master fab0 up', 'addr add 10.0.0.1/24 dev fab0');
  else await w.ip(fabric, 'addr add 10.0.0.1/24 dev p0', 'link set p0 up');
  await w.httpServer(fabric, 8000, PEER_PAGE);
  return fabric;
}

/** Turns the hairpin of the host's port on the fabric's switch on or off (a fabric made with upstreamSwitch). */
export async function upstreamHairpin(w: World, fabric: string, on: boolean): Promise<void> {
  await w.ip(fabric, `link set p0 type bridge_slave hairpin ${on ? 'on' : 'off'}`);
}

/** The IPv4 addresses (CIDR) of `dev` in namespace `ns`. */
export async function inetAddrs(ns: string, dev: string): Promise<string[]> {
  const j = JSON.parse((await run(['ip', '-n', ns, '-j', 'addr', 'show', 'dev', dev])).stdout) as { addr_info: { family: string; local: string; prefixlen: number }[] }[];
  return j[0]!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}
