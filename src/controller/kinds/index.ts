/** Every resource kind the northbound API serves, in the order the OpenAPI document lists them. */
import type { ResourceKind } from '../kind.js';
import { accessControlLists } from './access-control-lists.js';
import { credentials } from './credentials.js';
import { loadBalancers } from './load-balancers.js';
import { logicalNetworks } from './logical-networks.js';
import { macPools } from './mac-pools.js';
import { networkInterfaces } from './network-interfaces.js';
import { publicIPAddresses } from './public-ip-addresses.js';
import { routeTables } from './route-tables.js';
import { servers } from './servers.js';
import { virtualNetworks } from './virtual-networks.js';

export const KINDS: readonly ResourceKind[] = [
  logicalNetworks,
  servers,
  credentials,
  macPools,
  virtualNetworks,
  accessControlLists,
  networkInterfaces,
  publicIPAddresses,
  routeTables,
  loadBalancers,
];
