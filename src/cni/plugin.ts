/**
 * The CNI commands, each a short conversation with hostd's HCN API: the plugin does no kernel work
 * itself. An attachment (network, container, interface) is the hostd endpoint named
 * attachmentName(...) in the namespace the runtime gives; the config's network is the hostd network
 * of the same name, made on the first ADD. Every verb is safe to repeat: ADD of an existing
 * attachment answers its result, DEL of a missing one succeeds.
 */
import { CNI_CODES, CniError } from './errors.js';
import { SUPPORTED_VERSIONS, type CniResult, type Request } from './config.js';
import {
  attachmentName,
  checkDifferences,
  endpointRequest,
  ENDPOINT_NAME_RE,
  dhcpNetworkRequest,
  rangeCandidates,
  resultOf,
  type EndpointDoc,
  type NetworkDoc,
} from './translate.js';
import type { HttpAnswer } from './runtime.js';

/** What the plugin needs from the world, injected so the commands are testable without a runtime. */
export interface PluginDeps {
  request(socket: string, method: string, path: string, body: string | undefined, timeoutMs: number): Promise<HttpAnswer>;
  sha256hex(s: string): Promise<string> | string;
  pathExists(path: string): Promise<boolean>;
  /** when set, each hostd request is reported (method, path, status, ms) */
  trace?: (line: string) => void;
}

/** hostd's refusal, with its SY_ code. */
export class HostdError extends Error {
  constructor(
    readonly status: number,
    readonly syCode: string,
    message: string,
  ) {
    super(message);
  }
}

/** Codes of hostd refusals that mean "the config asked for something invalid". */
const CONFIG_CODES = new Set(['SY_BAD_REQUEST', 'SY_INVALID_NAME', 'SY_INVALID_SUBNET', 'SY_INVALID_ADDRESS', 'SY_INVALID_POLICY', 'SY_UNKNOWN_TYPE', 'SY_SUBNET_OVERLAP']);

/** A hostd refusal as a CNI error: the code a runtime can act on, hostd's words as the message. */
export function cniErrorOf(e: HostdError, what: string): CniError {
  const details = `${e.syCode} (HTTP ${e.status})`;
  if (e.syCode === 'SY_NOT_SUPPORTED') return new CniError(CNI_CODES.UNSUPPORTED_FIELD, `${what}: ${e.message}`, details);
  if (CONFIG_CODES.has(e.syCode)) return new CniError(CNI_CODES.INVALID_CONFIG, `${what}: ${e.message}`, details);
  if (e.syCode === 'SY_TIMEOUT') return new CniError(CNI_CODES.TRY_AGAIN_LATER, `${what}: ${e.message}`, details);
  return new CniError(CNI_CODES.HOSTD_REFUSED, `${what}: ${e.message}`, details);
}

export class Plugin {
  /** the network this ADD made (the config's, on its first ADD): taken back if the ADD fails */
  private madeNetwork: string | undefined;

  constructor(
    private readonly req: Request,
    private readonly deps: PluginDeps,
  ) {}

  /** Runs the command; resolves to what goes on stdout (undefined: nothing). */
  async run(): Promise<unknown> {
    switch (this.req.command) {
      case 'VERSION':
        return { cniVersion: this.req.conf.cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
      case 'ADD':
        return this.add();
      case 'DEL':
        return this.del();
      case 'CHECK':
        return this.check();
      case 'STATUS':
        return this.status();
      case 'GC':
        return this.gc();
    }
  }

  // ---- hostd conversation --------------------------------------------------------------------

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const c = this.req.conf;
    const t0 = performance.now();
    const ans = await this.deps.request(c.socket, method, path, body === undefined ? undefined : JSON.stringify(body), c.timeoutSeconds * 1000);
    this.deps.trace?.(`${method} ${path} -> ${ans.status} in ${(performance.now() - t0).toFixed(1)} ms`);
    let parsed: unknown;
    try {
      parsed = ans.body ? JSON.parse(ans.body) : undefined;
    } catch {
      parsed = { Error: ans.body };
    }
    if (ans.status >= 400) {
      const e = (parsed ?? {}) as { Error?: string; Code?: string };
      throw new HostdError(ans.status, e.Code ?? 'SY_UNKNOWN', e.Error ?? `HTTP ${ans.status}`);
    }
    return parsed as T;
  }

  /** GET that answers undefined for 404. */
  private async find<T>(path: string): Promise<T | undefined> {
    try {
      return await this.call<T>('GET', path);
    } catch (e) {
      if (e instanceof HostdError && e.status === 404) return undefined;
      throw e;
    }
  }

  /** DELETE that tolerates "not found" (and "still in use" for namespaces another attachment holds). */
  private async remove(path: string): Promise<void> {
    try {
      await this.call('DELETE', path);
    } catch (e) {
      if (e instanceof HostdError && (e.status === 404 || e.syCode === 'SY_IN_USE')) return;
      throw e;
    }
  }

  private prepareName(containerId: string, ifName: string): Promise<string> {
    return attachmentName(this.deps.sha256hex, this.req.conf.name, containerId, ifName);
  }

  private enc(s: string): string {
    return encodeURIComponent(s);
  }

  /**
   * The config's network, made when missing. Concurrent first ADDs race into hostd's one queue: one
   * creates it, the others are told SY_DUPLICATE_NAME and read the winner's.
   */
  private async ensureNetwork(): Promise<NetworkDoc> {
    const c = this.req.conf;
    let net = await this.find<NetworkDoc>(`/networks/${this.enc(c.name)}`);
    if (!net) {
      try {
        net = await this.call<NetworkDoc>('POST', '/networks', dhcpNetworkRequest(c));
        this.madeNetwork = net.ID;
      } catch (e) {
        if (!(e instanceof HostdError && e.syCode === 'SY_DUPLICATE_NAME')) throw wrap(e, `Cannot create network "${c.name}"`);
        net = await this.call<NetworkDoc>('GET', `/networks/${this.enc(c.name)}`);
      }
    }
    this.checkNetwork(net);
    return net;
  }

  /** An existing network must be what the config describes: same subnet (when given), same mode. */
  private checkNetwork(net: NetworkDoc): void {
    const c = this.req.conf;
    const have = net.Ipams?.[0]?.Subnets?.[0]?.IpAddressPrefix;
    const want = c.subnet ?? c.ipRanges[0]?.[0]?.subnet;
    if (want && have && canonical(want) !== have) {
      throw new CniError(CNI_CODES.INVALID_CONFIG, `Network "${c.name}" exists with subnet ${have}, but the config asks for ${want}`);
    }
    if (!!c.dhcp !== (net.Ipams?.[0]?.Type === 'DHCP')) {
      throw new CniError(CNI_CODES.INVALID_CONFIG, `Network "${c.name}" exists ${c.dhcp ? 'without' : 'with'} DHCP, but the config asks for ${c.dhcp ? 'ipam type "dhcp"' : 'static addresses'}`);
    }
    if (net.Type.toLowerCase() !== c.networkType.toLowerCase()) {
      throw new CniError(CNI_CODES.INVALID_CONFIG, `Network "${c.name}" exists with Type ${net.Type}, but the config asks for ${c.networkType}`);
    }
  }

  /** hostd's record of the runtime's namespace (adopted: hostd never deletes the namespace itself). */
  private async ensureNamespace(): Promise<void> {
    const path = this.req.netns;
    try {
      await this.call('POST', '/namespaces', { Path: path });
    } catch (e) {
      if (e instanceof HostdError && e.syCode === 'SY_DUPLICATE_NAME') return;
      throw wrap(e, `Cannot adopt namespace "${path}"`);
    }
  }

  /** Removes hostd's record of a namespace the plugin adopted, once no endpoint is left in it. */
  private async releaseNamespace(nsId: string): Promise<void> {
    const ns = await this.find<{ ID: string; Owned?: boolean; Resources?: unknown[] }>(`/namespaces/${this.enc(nsId)}`);
    if (ns && ns.Owned === false && !ns.Resources?.length) await this.remove(`/namespaces/${this.enc(ns.ID)}`);
  }

  // ---- commands ------------------------------------------------------------------------------

  private async add(): Promise<CniResult> {
    const req = this.req;
    if (!(await this.deps.pathExists(req.netns))) {
      throw new CniError(CNI_CODES.UNKNOWN_CONTAINER, `Network namespace "${req.netns}" does not exist`);
    }
    const name = await this.prepareName(req.containerId, req.ifName);
    try {
      const { net, ep } = await this.attach(name);
      return resultOf(ep, req, net.MTU);
    } catch (e) {
      // a refused ADD leaves nothing behind, not even hostd's record of the namespace, nor the
      // network it made (unless a concurrent ADD has put an endpoint in it meanwhile: ifEmpty)
      await this.call<{ ID: string }>('GET', `/namespaces/${this.enc(req.netns)}`)
        .then((ns) => this.releaseNamespace(ns.ID))
        .catch(() => undefined);
      if (this.madeNetwork) await this.call('DELETE', `/networks/${this.enc(this.madeNetwork)}?ifEmpty=true`).catch(() => undefined);
      throw e;
    }
  }

  /**
   * The endpoint for this ADD, and its network. When hostd picks the address, the network lookup
   * and the endpoint request go out side by side (the lookup only confirms that the network matches
   * the config, and a mismatch takes the new endpoint back); the first ADD of a network learns
   * SY_NETWORK_NOT_FOUND, makes the network and tries again.
   */
  private async attach(name: string): Promise<{ net: NetworkDoc; ep: EndpointDoc }> {
    const c = this.req.conf;
    if (c.ips.length || c.ipRanges.length) {
      const net = await this.ensureNetwork();
      return { net, ep: (await this.createEndpoint(name, net)).ep };
    }
    // the endpoint first: hostd answers the lookup while the endpoint's kernel work runs
    const creating = this.createEndpoint(name, undefined);
    const [made, found] = await Promise.allSettled([creating, this.find<NetworkDoc>(`/networks/${this.enc(c.name)}`)]);
    if (made.status === 'rejected') {
      const e = made.reason as unknown;
      if (!(e instanceof HostdError && e.syCode === 'SY_NETWORK_NOT_FOUND')) throw e;
      const net = await this.ensureNetwork();
      return { net, ep: (await this.createEndpoint(name, net)).ep };
    }
    try {
      if (found.status === 'rejected') throw found.reason;
      // made after our lookup by a concurrent first ADD: read it now
      const net = found.value ?? (await this.call<NetworkDoc>('GET', `/networks/${this.enc(c.name)}`));
      this.checkNetwork(net);
      return { net, ep: made.value.ep };
    } catch (e) {
      if (made.value.created) await this.remove(`/endpoints/${made.value.ep.ID}`).catch(() => undefined);
      throw wrap(e, `Cannot look up network "${c.name}"`);
    }
  }

  /** POST /endpoints (with the retries a race calls for); `net` is needed only to choose an address. */
  private async createEndpoint(name: string, net: NetworkDoc | undefined): Promise<{ ep: EndpointDoc; created: boolean }> {
    const req = this.req;
    const candidates = net ? await this.addressCandidates(net) : [];
    let next = 0;
    let namespaceTries = 0;
    let staleRemoved = false;
    for (;;) {
      const ip = candidates.length ? candidates[next] : undefined;
      if (candidates.length && ip === undefined) {
        throw new CniError(CNI_CODES.HOSTD_REFUSED, `No free address in runtimeConfig.ipRanges for network "${req.conf.name}"`, 'SY_SUBNET_FULL');
      }
      try {
        return { ep: await this.call<EndpointDoc>('POST', '/endpoints', endpointRequest(req, name, ip)), created: true };
      } catch (e) {
        if (!(e instanceof HostdError)) throw e;
        if (e.syCode === 'SY_NETWORK_NOT_FOUND' && !net) throw e;
        if (e.syCode === 'SY_NAMESPACE_NOT_FOUND' && namespaceTries++ < 3) {
          // a hostd without AdoptNamespace: adopt the namespace first, then try again
          await this.ensureNamespace();
          continue;
        }
        if (e.syCode === 'SY_ADDRESS_IN_USE' && candidates.length > 1) {
          next++; // another ADD took it since we listed the network: try the next one of the range
          continue;
        }
        if (e.syCode === 'SY_DUPLICATE_NAME') {
          const ep = await this.call<EndpointDoc>('GET', `/endpoints/${name}`);
          if (ep.NamespacePath === req.netns) return { ep, created: false };
          if (!staleRemoved && !(ep.NamespacePath && (await this.deps.pathExists(ep.NamespacePath)))) {
            // left by a runtime that lost its container without DEL: its namespace is gone, replace it
            staleRemoved = true;
            await this.remove(`/endpoints/${ep.ID}`);
            if (ep.HostComputeNamespace) await this.releaseNamespace(ep.HostComputeNamespace);
            continue;
          }
          throw new CniError(CNI_CODES.HOSTD_REFUSED, `Container "${req.containerId}" already has interface ${req.ifName} on network "${req.conf.name}" in namespace ${ep.NamespacePath ?? '(none)'}`, e.syCode);
        }
        throw cniErrorOf(e, `Cannot attach container "${req.containerId}" to network "${req.conf.name}"`);
      }
    }
  }

  /**
   * Static addresses to try, in order: the runtime's own (runtimeConfig.ips, CNI_ARGS IP=), else
   * the first free ones of runtimeConfig.ipRanges; empty means "hostd picks".
   */
  private async addressCandidates(net: NetworkDoc): Promise<string[]> {
    const c = this.req.conf;
    if (c.ips.length) return [c.ips[0]!];
    const ranges = c.ipRanges[0];
    if (!ranges?.length) return [];
    const subnet = net.Ipams?.[0]?.Subnets?.[0]?.IpAddressPrefix ?? ranges[0]!.subnet;
    const gw = net.Ipams?.[0]?.Subnets?.[0]?.Routes?.[0]?.NextHop;
    const used = new Set(
      (await this.call<EndpointDoc[]>('GET', `/endpoints?network=${this.enc(c.name)}`)).flatMap((e) => e.IpConfigurations.map((i) => i.IpAddress)),
    );
    const out: string[] = [];
    for (const r of ranges) {
      if (canonical(r.subnet) !== subnet) throw new CniError(CNI_CODES.INVALID_CONFIG, `runtimeConfig.ipRanges subnet ${r.subnet} is not the network's subnet ${subnet}`);
      for (const ip of rangeCandidates(subnet, r.rangeStart, r.rangeEnd, gw)) if (!used.has(ip) && out.length < 64) out.push(ip);
    }
    if (!out.length) throw new CniError(CNI_CODES.HOSTD_REFUSED, `No free address in runtimeConfig.ipRanges for network "${c.name}"`, 'SY_SUBNET_FULL');
    return out;
  }

  /** DEL: succeeds when the endpoint, the namespace or the whole network is already gone. */
  private async del(): Promise<void> {
    const name = await this.prepareName(this.req.containerId, this.req.ifName);
    const ep = await this.find<EndpointDoc>(`/endpoints/${name}`).catch((e) => {
      throw wrap(e, `Cannot look up the attachment of container "${this.req.containerId}"`);
    });
    if (!ep) return;
    try {
      await this.remove(`/endpoints/${ep.ID}`);
      if (ep.HostComputeNamespace) await this.releaseNamespace(ep.HostComputeNamespace);
    } catch (e) {
      throw wrap(e, `Cannot detach container "${this.req.containerId}" from network "${this.req.conf.name}"`);
    }
  }

  private async check(): Promise<void> {
    const req = this.req;
    const name = await this.prepareName(req.containerId, req.ifName);
    let ep: EndpointDoc | undefined;
    try {
      if (!(await this.find(`/networks/${this.enc(req.conf.name)}`))) throw new CniError(CNI_CODES.CHECK_FAILED, `Network "${req.conf.name}" does not exist in hostd`);
      ep = await this.find<EndpointDoc>(`/endpoints/${name}`);
    } catch (e) {
      throw wrap(e, 'CHECK');
    }
    if (!ep) throw new CniError(CNI_CODES.CHECK_FAILED, `Container "${req.containerId}" has no interface ${req.ifName} on network "${req.conf.name}"`);
    const diffs = checkDifferences(ep, req);
    if (!(await this.deps.pathExists(req.netns))) diffs.push(`namespace ${req.netns} does not exist`);
    if (diffs.length) throw new CniError(CNI_CODES.CHECK_FAILED, `Attachment of container "${req.containerId}" differs: ${diffs.join('; ')}`);
  }

  /** STATUS: 50 when hostd cannot take an ADD, 51 when the network has no address left. */
  private async status(): Promise<void> {
    const c = this.req.conf;
    let net: NetworkDoc | undefined;
    let used = 0;
    try {
      await this.call('GET', '/healthz');
      net = await this.find<NetworkDoc>(`/networks/${this.enc(c.name)}`);
      if (net) used = (await this.call<unknown[]>('GET', `/endpoints?network=${this.enc(c.name)}`)).length;
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      throw new CniError(CNI_CODES.NOT_AVAILABLE, `Switchyard cannot take ADD requests: ${reason}`);
    }
    const prefix = net?.Ipams?.[0]?.Subnets?.[0]?.IpAddressPrefix;
    if (prefix) {
      const free = 2 ** (32 - Number(prefix.split('/')[1])) - 3 - used;
      if (free <= 0) throw new CniError(CNI_CODES.NO_RESOURCES, `Network "${c.name}" (${prefix}) has no free address left`);
    }
  }

  /**
   * GC: removes every attachment of this network that the plugin made (name cni-<digest>) and that
   * is not in cni.dev/valid-attachments; endpoints made by anyone else are never touched.
   */
  private async gc(): Promise<void> {
    const c = this.req.conf;
    try {
      if (!(await this.find(`/networks/${this.enc(c.name)}`))) return;
      const valid = new Set<string>();
      for (const a of c.validAttachments ?? []) valid.add(await this.prepareName(a.containerID, a.ifname));
      const eps = await this.call<EndpointDoc[]>('GET', `/endpoints?network=${this.enc(c.name)}`);
      const stale = eps.filter((e) => ENDPOINT_NAME_RE.test(e.Name) && !valid.has(e.Name));
      for (const ep of stale) {
        await this.remove(`/endpoints/${ep.ID}`);
        if (ep.HostComputeNamespace) await this.releaseNamespace(ep.HostComputeNamespace);
      }
    } catch (e) {
      throw wrap(e, `GC of network "${c.name}"`);
    }
  }
}

function wrap(e: unknown, what: string): Error {
  if (e instanceof HostdError) return cniErrorOf(e, what);
  return e as Error;
}

function canonical(cidr: string): string {
  const [ip, p] = cidr.split('/');
  const size = 2 ** (32 - Number(p));
  const n = ip!.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const base = Math.floor(n / size) * size;
  return `${[24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join('.')}/${p}`;
}
