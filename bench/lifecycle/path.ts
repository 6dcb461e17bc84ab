/**
 * The contract each compared way of making an endpoint implements for (a): hostd's API, Debian's
 * CNI reference chain, and the hand-written floor. The runner creates the container namespace,
 * calls `prepare` (untimed), `create` (timed), checks the kernel, `remove` (timed), checks again,
 * calls `release` (untimed) and removes the namespace — identically for every path.
 */
import type { Teardown } from '../lib/teardown.js';

export interface Iteration {
  /** "w" for the warm-up, else the round number */
  label: string;
  /** name (under /run/netns) of the container namespace the runner made for this iteration */
  containerNetns: string;
  /** host port mapped to the container's port 80 */
  hostPort: number;
  /** 0 for the warm-up, round + 1 after: paths derive unique addresses and names from it */
  seq: number;
}

export interface CreatedEndpoint {
  /** IPv4 address given to eth0 in the container namespace */
  ip: string;
  /** what `remove` needs: hostd endpoint id, CNI result JSON, floor veth name */
  ref: string;
}

export interface EndpointPath {
  /** short key: hostd | cni | floor */
  readonly key: string;
  /** human description for the report */
  readonly title: string;
  /** the bench host namespace the path works in */
  readonly hostNetns: string;
  /** untimed, once: host namespace, bridge, tables, daemon */
  setup(td: Teardown): Promise<void>;
  /** untimed, per iteration, before create */
  prepare(it: Iteration): Promise<void>;
  /** timed: make eth0 in the container namespace with an address, a default route and the mapping */
  create(it: Iteration): Promise<CreatedEndpoint>;
  /** timed: undo create */
  remove(it: Iteration, ep: CreatedEndpoint): Promise<void>;
  /** untimed, per iteration, after remove (also after a failure) */
  release(it: Iteration): Promise<void>;
}
