/**
 * The Docker front door's network driver: libnetwork's remote NetworkDriver calls, translated into
 * the HostService operations the HCN API uses, and nothing else (no kernel work here).
 *
 *   CreateNetwork  → create network          DeleteNetwork  → delete network
 *   CreateEndpoint → create endpoint (Docker's address, the user's MAC)
 *   Join           → -p mappings (on the container's first network), adopt Docker's sandbox
 *                    namespace, attach the endpoint into it as eth0, eth1, ...
 *   Leave          → detach (and forget the sandbox namespace once nothing is attached); the -p
 *                    mappings move to the next network of the sandbox, if any
 *   DeleteEndpoint → delete endpoint
 *
 * hostd itself places the endpoint's interface in the sandbox (address, MAC, default route), as for
 * any HCN endpoint, so Join returns no InterfaceName and no Gateway but DisableGatewayService: Docker
 * then moves no interface, adds no route of its own and attaches no docker_gwbridge. For a starting
 * container the sandbox namespace does not exist at Join yet (runc makes it, Docker's prestart hook
 * mounts it): the attach then follows as soon as it is mounted (sandbox.ts).
 * Docker calls Program/RevokeExternalConnectivity only for an endpoint whose Join named a Gateway,
 * so the `-p` mappings (which Docker sends with every Join) are made on the sandbox's first network
 * and move with the default route when that network is disconnected. Internal networks (--internal)
 * have neither: as with Docker's bridge driver, a `-p` there publishes nothing, and the container's
 * first network that is not internal takes the default route and the mappings.
 *
 * Every handler is idempotent (Docker replays nothing after a plugin restart, and its rollback calls
 * may come for objects that were never made): a missing object on a removal is success.
 */
import { SyError } from '../errors.js';
import type { Logger } from '../hostd/reconciler.js';
import { namespacePathOf, type HostService } from '../hostd/service.js';
import { isNamespaceMounted, waitForNamespace } from './sandbox.js';
import { parseDoc } from '../hcn/schema.js';
import { renderPortMappingPolicy } from '../hcn/render.js';
import type { EndpointRecord } from '../model/records.js';
import { CreateEndpointRequest, CreateNetworkRequest, EndpointRequest, JoinRequest, NetworkRequest, ProgramRequest } from './messages.js';
import { endpointDoc, guidOf, joinPortPolicies, networkRequest, type NetworkExtras } from './translate.js';
import type { JsonRecords } from './json-records.js';

export type Handler = (body: unknown) => Promise<unknown>;

/** Runs one change at a time: a Join's namespace lookup and attach must not interleave with another's. */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

/** 0 for eth0, 1 for eth1, ... (large for a name not of that form). */
function ifIndex(name: string): number {
  const m = /^eth(\d+)$/.exec(name);
  return m ? Number(m[1]) : 1_000_000;
}

function notFound(e: unknown): boolean {
  return e instanceof SyError && (e.code === 'SY_ENDPOINT_NOT_FOUND' || e.code === 'SY_NETWORK_NOT_FOUND' || e.code === 'SY_NAMESPACE_NOT_FOUND');
}

async function ignoreNotFound(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!notFound(e)) throw e;
  }
}

/** The NetworkDriver methods for one Docker driver name (e.g. "nat"), by method name. */
export interface NetworkDriverOptions {
  log: Logger;
  /** how long a Join waits for the sandbox namespace of a starting container (default 60 s) */
  sandboxTimeoutMs?: number;
  /** told the address of each endpoint removed as stale (Docker will not release it: the IPAM does) */
  onStaleAddress?: (ip: string) => void;
  /** what each network's options ask of its endpoints, by network id (kept across restarts) */
  extras: JsonRecords<NetworkExtras>;
}

export interface NetworkDriver {
  /** the NetworkDriver methods by name */
  handlers: Record<string, Handler>;
  /** removes Docker's endpoints whose sandbox namespace is gone (run through the serial queue) */
  sweepStale(): Promise<number>;
}

export function networkDriver(driver: string, svc: HostService, serial: Serial, opts: NetworkDriverOptions): NetworkDriver {
  const { log } = opts;
  const sandboxTimeoutMs = opts.sandboxTimeoutMs ?? 60_000;
  const macOf = (id: string) => {
    const doc = svc.endpointDoc(svc.findEndpoint(id));
    return doc.MacAddress.toLowerCase().replace(/-/g, ':');
  };

  /** Forgets a sandbox namespace record nothing is attached to any more (the namespace is Docker's). */
  const dropIdleNamespace = async (nsId: string | undefined) => {
    if (!nsId) return;
    if ([...svc.state.endpoints.values()].some((e) => e.namespaceId === nsId)) return;
    await ignoreNotFound(() => svc.deleteNamespace(nsId));
  };

  /** The endpoint is on an internal network (no default route, no port mappings). */
  const isInternal = (id: string) => {
    const e = svc.state.endpoints.get(id);
    return !!e && !!svc.state.networks.get(e.networkId)?.internal;
  };

  /** Joins waiting for their sandbox to appear, by endpoint id. */
  const pending = new Map<string, { ctl: AbortController; path: string }>();
  const cancelPending = (id: string) => {
    pending.get(id)?.ctl.abort();
    pending.delete(id);
  };

  /** Places the endpoint in the sandbox at `path` as eth0 (eth1, ... for further networks). */
  const attachInto = async (id: string, path: string) => {
    const ep = svc.state.endpoints.get(id);
    if (!ep) return; // removed meanwhile
    const known = [...svc.state.namespaces.values()].find((n) => n.path === path && !n.deleting);
    if (known && ep.namespaceId === known.id) return;
    const nsId = known?.id;
    // Names count up as Docker's do (never reusing a lower one while the sandbox lives), so the
    // lowest-numbered endpoint of a sandbox is always its oldest: the one with the default route.
    const used = nsId ? [...svc.state.endpoints.values()].filter((e) => e.namespaceId === nsId).map((e) => ifIndex(e.ifName)) : [];
    for (let n = used.length ? Math.max(...used) + 1 : 0, tries = 0; ; n++) {
      try {
        // One request: the sandbox is adopted with the attach (and forgotten with the last detach).
        await svc.attachEndpoint(id, { NamespaceId: path, AdoptNamespace: true, InterfaceName: `eth${n}` });
        return;
      } catch (e) {
        // An interface of Docker's own drivers may hold the name already (a container also on a
        // bridge network): take the next one.
        if (e instanceof SyError && e.code === 'SY_KERNEL' && /File exists/.test(e.message) && ++tries < 4) continue;
        throw e;
      }
    }
  };

  /**
   * The sandbox's oldest endpoint (its default route, its -p mappings) left while others stay: the
   * next oldest takes over, as Docker moves the gateway. Its interface is made again (the kernel
   * gives the default route to an interface when it is configured) and the mappings move to it
   * with the host ports they had.
   */
  const promote = async (heirId: string, from: EndpointRecord) => {
    const heir = svc.state.endpoints.get(heirId)!;
    const path = svc.state.namespaces.get(heir.namespaceId!)!.path;
    try {
      // (the detach may forget the adopted sandbox, which the attach adopts again)
      await svc.detachEndpoint(heirId);
      await svc.attachEndpoint(heirId, { NamespaceId: path, AdoptNamespace: true, InterfaceName: heir.ifName });
      // (an uplink network's endpoint takes no mappings: they go with the endpoint that held them)
      const natHeir = svc.state.networks.get(heir.networkId)?.type === 'NAT';
      if (from.portMappings.length && !heir.portMappings.length && natHeir) {
        const policies = from.portMappings.map((m) => renderPortMappingPolicy(m));
        await svc.modifyEndpoint(heirId, { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: policies } });
      }
      log.info(`docker: endpoint ${heir.name} (${heir.ifName}) now holds the default route${from.portMappings.length && natHeir ? ' and the port mappings' : ''} of its sandbox`);
    } catch (e) {
      log.warn(`docker: cannot move the default route to endpoint ${heir.name}: ${(e as Error).message}`);
    }
  };

  /**
   * Removes Docker's endpoints whose sandbox is gone: after a kill -9 of dockerd (without
   * live-restore) Docker forgets its old sandboxes without calling Leave or DeleteEndpoint, then hands
   * their addresses and ports to new endpoints. Returns how many were removed.
   */
  const sweepStale = async (): Promise<number> => {
    let removed = 0;
    for (const ep of [...svc.state.endpoints.values()]) {
      if (!ep.name.startsWith('docker-ep-') || !ep.namespaceId) continue;
      const ns = svc.state.namespaces.get(ep.namespaceId);
      if (!ns || (await isNamespaceMounted(ns.path))) continue;
      log.warn(`docker: endpoint ${ep.name} (${ep.id}) outlived its sandbox ${ns.path}; removing it`);
      await ignoreNotFound(() => svc.deleteEndpoint(ep.id));
      await dropIdleNamespace(ns.id);
      opts.onStaleAddress?.(ep.ip);
      removed++;
    }
    return removed;
  };

  /** Runs fn; if an address or port is taken and stale endpoints held it, removes them and tries again. */
  const withStaleRetry = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof SyError && (e.code === 'SY_ADDRESS_IN_USE' || e.code === 'SY_PORT_IN_USE'))) throw e;
      if (!(await sweepStale())) throw e;
      return fn();
    }
  };

  const handlers: Record<string, Handler> = {
    'NetworkDriver.GetCapabilities': async () => ({ Scope: 'local', ConnectivityScope: 'local' }),

    'NetworkDriver.CreateNetwork': (body) =>
      serial.run(async () => {
        const req = parseDoc(CreateNetworkRequest, body, 'CreateNetwork request');
        const { doc, extras } = networkRequest(driver, req);
        if (svc.state.networks.has(doc.ID!)) return {};
        if (extras.endpointPolicies.length) opts.extras.set(doc.ID!, extras);
        try {
          await svc.createNetwork(doc);
        } catch (e) {
          opts.extras.set(doc.ID!, undefined);
          throw e;
        }
        return {};
      }),

    'NetworkDriver.DeleteNetwork': (body) =>
      serial.run(async () => {
        const req = parseDoc(NetworkRequest, body, 'DeleteNetwork request');
        const id = guidOf(req.NetworkID);
        const nsIds = [...svc.state.endpoints.values()].filter((e) => e.networkId === id).map((e) => e.namespaceId);
        await ignoreNotFound(() => svc.deleteNetwork(id));
        if (opts.extras.get(id)) opts.extras.set(id, undefined);
        for (const ns of new Set(nsIds)) await dropIdleNamespace(ns);
        return {};
      }),

    'NetworkDriver.CreateEndpoint': (body) =>
      serial.run(async () => {
        const req = parseDoc(CreateEndpointRequest, body, 'CreateEndpoint request');
        const netId = guidOf(req.NetworkID);
        svc.findNetwork(netId);
        const doc = endpointDoc(netId, req, opts.extras.get(netId));
        if (!svc.state.endpoints.has(doc.ID!)) await withStaleRetry(() => svc.createEndpoint(doc));
        // Docker takes back only what it did not give: echoing its address would make it roll back.
        return { Interface: req.Interface?.MacAddress ? {} : { MacAddress: macOf(doc.ID!) } };
      }),

    'NetworkDriver.DeleteEndpoint': (body) =>
      serial.run(async () => {
        const req = parseDoc(EndpointRequest, body, 'DeleteEndpoint request');
        const id = guidOf(req.EndpointID);
        cancelPending(id);
        const ns = svc.state.endpoints.get(id)?.namespaceId;
        await ignoreNotFound(() => svc.deleteEndpoint(id));
        await dropIdleNamespace(ns);
        return {};
      }),

    'NetworkDriver.EndpointOperInfo': async (body) => {
      const req = parseDoc(EndpointRequest, body, 'EndpointOperInfo request');
      const ep = svc.state.endpoints.get(guidOf(req.EndpointID));
      return { Value: ep ? { 'switchyard.endpoint': ep.id, 'switchyard.interface': ep.ifName } : {} };
    },

    'NetworkDriver.Join': (body) =>
      serial.run(async () => {
        const req = parseDoc(JoinRequest, body, 'Join request');
        const ep = svc.findEndpoint(guidOf(req.EndpointID));
        const path = namespacePathOf(req.SandboxKey, true)!;
        cancelPending(ep.id);
        // Docker sends the -p mappings with every network a container joins; they are published on
        // the first network it joins (Docker's primary one, joined first), where Docker would ask for
        // them too if ours were a gateway endpoint.
        const policies = joinPortPolicies(req.Options);
        const nsKnown = [...svc.state.namespaces.values()].find((n) => n.path === path);
        const others = [
          ...[...pending].filter(([, p]) => p.path === path).map(([id]) => id),
          ...[...svc.state.endpoints.values()].filter((e) => nsKnown && e.namespaceId === nsKnown.id).map((e) => e.id),
        ].filter((id) => id !== ep.id);
        const internal = isInternal(ep.id);
        const primary = !internal && !others.some((id) => !isInternal(id));
        const type = svc.state.networks.get(ep.networkId)?.type;
        if (primary && policies.length && type && type !== 'NAT') {
          // Refused before anything is made: Docker then deletes the endpoint (a failed Join is not left).
          const where = type === 'Overlay' ? 'its containers are in a virtual network, reached through it or a load balancer' : 'its containers are on the wire with their own addresses';
          throw new SyError('SY_NOT_SUPPORTED', `Ports cannot be published (-p, -P) on this ${type} network: ${where}; port mappings are a nat network's`);
        }
        if (internal && policies.length) log.info(`docker: endpoint ${ep.name} is on an internal network: its ${policies.length} port mapping(s) are not published`);
        if (primary && policies.length && !ep.portMappings.length) {
          await withStaleRetry(() => svc.modifyEndpoint(ep.id, { ResourceType: 'Policy', RequestType: 'Add', Settings: { Policies: policies } }));
        }
        if (await isNamespaceMounted(path)) {
          await attachInto(ep.id, path);
        } else {
          // A starting container: its namespace appears when Docker's prestart hook mounts it.
          const ctl = new AbortController();
          pending.set(ep.id, { ctl, path });
          void waitForNamespace(path, sandboxTimeoutMs, ctl.signal).then((ok) => {
            if (pending.get(ep.id)?.ctl === ctl) pending.delete(ep.id);
            if (ctl.signal.aborted) return;
            if (!ok) return log.warn(`docker: sandbox ${path} of endpoint ${ep.id} did not appear within ${sandboxTimeoutMs / 1000} s`);
            const t0 = Date.now();
            serial
              .run(() => attachInto(ep.id, path))
              .then(() => process.env.SWITCHYARD_DOCKER_TRACE && log.info(`docker: endpoint ${ep.id} attached ${Date.now() - t0} ms after its sandbox appeared`))
              .catch((e: Error) => log.warn(`docker: cannot attach endpoint ${ep.id} to ${path}: ${e.message}`));
          });
        }
        return { DisableGatewayService: true };
      }),

    'NetworkDriver.Leave': (body) =>
      serial.run(async () => {
        const req = parseDoc(EndpointRequest, body, 'Leave request');
        const id = guidOf(req.EndpointID);
        cancelPending(id);
        const ep = svc.state.endpoints.get(id);
        if (!ep) return {};
        // Endpoints of internal networks have no default route and no mappings to hand on or take.
        const others = [...svc.state.endpoints.values()]
          .filter((e) => e.id !== id && ep.namespaceId && e.namespaceId === ep.namespaceId && !isInternal(e.id))
          .sort((a, b) => ifIndex(a.ifName) - ifIndex(b.ifName));
        const heir = !isInternal(id) && others[0] && ifIndex(ep.ifName) < ifIndex(others[0].ifName) ? others[0] : undefined;
        await ignoreNotFound(() => svc.detachEndpoint(id));
        if (heir) {
          // The heir takes the mappings with the same host ports: they are let go here first. Without
          // an heir they go with the endpoint at DeleteEndpoint, which Docker sends right after Leave
          // (one nft commit fewer, 10-25 ms here, on the way out of every container with -p).
          if (ep.portMappings.length) {
            const mine = ep.portMappings.map((m) => renderPortMappingPolicy(m));
            await ignoreNotFound(() => svc.modifyEndpoint(id, { ResourceType: 'Policy', RequestType: 'Remove', Settings: { Policies: mine } }));
          }
          await promote(heir.id, ep);
        }
        await dropIdleNamespace(ep.namespaceId);
        return {};
      }),

    // Called only for an endpoint whose Join named a Gateway, which ours never do: the mappings were
    // made with the endpoint. Answered (not 404) so that a future Docker calling them still works.
    'NetworkDriver.ProgramExternalConnectivity': async (body) => {
      parseDoc(ProgramRequest, body, 'ProgramExternalConnectivity request');
      return {};
    },
    'NetworkDriver.RevokeExternalConnectivity': async (body) => {
      parseDoc(EndpointRequest, body, 'RevokeExternalConnectivity request');
      return {};
    },

    // Swarm-only calls: nothing to do on a single host.
    'NetworkDriver.AllocateNetwork': async () => ({ Options: {} }),
    'NetworkDriver.FreeNetwork': async () => ({}),
    'NetworkDriver.DiscoverNew': async () => ({}),
    'NetworkDriver.DiscoverDelete': async () => ({}),
  };
  return { handlers, sweepStale: () => serial.run(sweepStale) };
}
