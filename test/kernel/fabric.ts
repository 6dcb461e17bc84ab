/**
 * The provider network of the multi-host kernel tests: a fabric namespace whose bridge fab0 joins a
 * router (10.0.0.1 on eth1, 198.18.0.1 beyond it on lo) and the hosts, each with eth1 at its given
 * address on 10.0.0.0/24 and a default route through the router; fab-NAME is a host's port on the
 * fabric (where tcpdump sees what the wire carries).
 */
import type { World } from './world.js';

export async function buildFabric(w: World, hosts: [name: string, address: string][]): Promise<{ fabric: string; router: string; hostNs: Record<string, string> }> {
  const fabric = await w.addNs('fab');
  const router = await w.addNs('rtr');
  await w.ip(fabric, 'link add fab0 type bridge', 'link set fab0 up');
  await w.ip(fabric, `link add fab-rtr type veth peer name eth1 netns ${router}`, 'link set fab-rtr master fab0 up');
  await w.ip(router, 'addr add 10.0.0.1/24 dev eth1', 'link set eth1 up', 'addr add 198.18.0.1/32 dev lo');
  const hostNs: Record<string, string> = {};
  for (const [name, addr] of hosts) {
    const ns = await w.addNs(name);
    await w.ip(fabric, `link add fab-${name} type veth peer name eth1 netns ${ns}`, `link set fab-${name} master fab0 up`);
    await w.ip(ns, `addr add ${addr}/24 dev eth1`, 'link set eth1 up', 'route add default via 10.0.0.1 dev eth1');
    hostNs[name] = ns;
  }
  return { fabric, router, hostNs };
}
