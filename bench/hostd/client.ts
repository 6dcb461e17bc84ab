/**
 * A small client of hostd's host API: HTTP/1.1 JSON over its unix socket, on one keep-alive
 * connection as a runtime would hold it. Errors come back as `{Error, Code}` with a 4xx/5xx status
 * and are thrown as HostdError.
 */
import { Agent, request } from 'node:http';

export class HostdError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'HostdError';
  }
}

export interface EndpointDoc {
  ID: string;
  Name?: string;
  IpConfigurations?: { IpAddress?: string; PrefixLength?: number }[];
  [field: string]: unknown;
}

export interface PortMapping {
  externalPort: number;
  internalPort: number;
}

function newAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 1 });
}

export class HostdClient {
  private agent = newAgent();

  constructor(readonly socketPath: string) {}

  async call<T>(method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          path,
          method,
          agent: this.agent,
          headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            let parsed: unknown = undefined;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // a non-JSON body is reported as text below
            }
            if (status >= 400) {
              const err = (parsed ?? {}) as { Error?: string; Code?: string };
              reject(new HostdError(`${method} ${path} → ${status}: ${err.Error ?? text.slice(0, 200)}`, status, err.Code));
              return;
            }
            resolve(parsed as T);
          });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async healthy(): Promise<boolean> {
    const r = await this.call<{ Status?: string }>('GET', '/healthz', undefined, 2_000);
    return r?.Status === 'ok';
  }

  createNatNetwork(name: string, subnet: string): Promise<{ ID: string }> {
    return this.call('POST', '/networks', {
      Name: name,
      Type: 'NAT',
      Ipams: [{ Type: 'Static', Subnets: [{ IpAddressPrefix: subnet }] }],
    });
  }

  deleteNetwork(id: string, timeoutMs?: number): Promise<unknown> {
    return this.call('DELETE', `/networks/${encodeURIComponent(id)}`, undefined, timeoutMs);
  }

  /** Registers a namespace by path; hostd adopts an existing one and creates a missing one. */
  createNamespace(path: string): Promise<{ ID: string; Path?: string }> {
    return this.call('POST', '/namespaces', { Path: path });
  }

  deleteNamespace(id: string): Promise<unknown> {
    return this.call('DELETE', `/namespaces/${encodeURIComponent(id)}`);
  }

  /** Creates an endpoint with TCP port mappings; without a namespace id it is created detached. */
  createEndpoint(name: string, network: string, namespaceId: string | undefined, ports: PortMapping[]): Promise<EndpointDoc> {
    return this.call('POST', '/endpoints', {
      Name: name,
      HostComputeNetwork: network,
      ...(namespaceId ? { HostComputeNamespace: namespaceId } : {}),
      Policies: ports.map((p) => ({
        Type: 'PortMapping',
        Settings: { Protocol: 6, InternalPort: p.internalPort, ExternalPort: p.externalPort },
      })),
    });
  }

  deleteEndpoint(id: string): Promise<unknown> {
    return this.call('DELETE', `/endpoints/${encodeURIComponent(id)}`);
  }

  listEndpoints(timeoutMs?: number): Promise<EndpointDoc[]> {
    return this.call('GET', '/endpoints', undefined, timeoutMs);
  }

  /** Drops the kept-alive connection (e.g. before hostd restarts); the client stays usable. */
  close(): void {
    this.agent.destroy();
    this.agent = newAgent();
  }
}

/** The endpoint's IPv4 address from its document. */
export function endpointIp(doc: EndpointDoc): string {
  const ip = doc.IpConfigurations?.[0]?.IpAddress;
  if (!ip) throw new Error(`Endpoint "${doc.ID}" has no IpConfigurations[0].IpAddress`);
  return ip;
}
