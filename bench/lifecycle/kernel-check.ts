/**
 * What a user of an endpoint would see in the container namespace, read back from the kernel
 * (`ip -j`): eth0 carries the endpoint's address and there is a default route; after delete, eth0 is
 * gone. The runner checks this after every timed call, untimed, for every path alike.
 */
import { exec } from '../lib/exec.js';

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string }[];
}

/** eth0 has `ip` and a default route exists. */
export async function isAttached(netns: string, ip: string): Promise<boolean> {
  const addrs = JSON.parse((await exec(['ip', '-n', netns, '-j', 'addr', 'show'])).stdout) as IpAddrJson[];
  const eth0 = addrs.find((l) => l.ifname === 'eth0');
  if (!eth0?.addr_info?.some((a) => a.family === 'inet' && a.local === ip)) return false;
  const routes = JSON.parse((await exec(['ip', '-n', netns, '-j', 'route', 'show', 'default'])).stdout) as unknown[];
  return routes.length > 0;
}

/** eth0 no longer exists in the namespace. */
export async function isDetached(netns: string): Promise<boolean> {
  const links = JSON.parse((await exec(['ip', '-n', netns, '-j', 'link', 'show'])).stdout) as IpAddrJson[];
  return !links.some((l) => l.ifname === 'eth0');
}
