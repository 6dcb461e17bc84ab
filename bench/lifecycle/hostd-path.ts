/**
 * hostd's path for (a): the container namespace (made by the runner) is adopted with
 * POST /namespaces before timing; the timed create is POST /endpoints with one port mapping, the
 * timed delete is DELETE /endpoints/{id}; DELETE /namespaces/{id} follows untimed.
 */
import type { HostdWorld } from '../hostd/world.js';
import { endpointIp } from '../hostd/client.js';
import { netnsPath } from '../lib/exec.js';
import type { CreatedEndpoint, EndpointPath, Iteration } from './path.js';

export class HostdPath implements EndpointPath {
  readonly key = 'hostd';
  readonly title = 'hostd (POST/DELETE /endpoints)';
  private readonly namespaceIds = new Map<string, string>();

  constructor(private readonly world: HostdWorld) {}

  get hostNetns(): string {
    return this.world.netns;
  }

  async setup(): Promise<void> {}

  async prepare(it: Iteration): Promise<void> {
    const ns = await this.world.hostd.client.createNamespace(netnsPath(it.containerNetns));
    this.namespaceIds.set(it.containerNetns, ns.ID);
  }

  async create(it: Iteration): Promise<CreatedEndpoint> {
    const doc = await this.world.hostd.client.createEndpoint(`b${it.label}`, this.world.networkId, this.namespaceIds.get(it.containerNetns), [
      { externalPort: it.hostPort, internalPort: 80 },
    ]);
    return { ip: endpointIp(doc), ref: doc.ID };
  }

  async remove(_it: Iteration, ep: CreatedEndpoint): Promise<void> {
    await this.world.hostd.client.deleteEndpoint(ep.ref);
  }

  async release(it: Iteration): Promise<void> {
    const id = this.namespaceIds.get(it.containerNetns);
    if (id === undefined) return;
    this.namespaceIds.delete(it.containerNetns);
    await this.world.hostd.client.deleteNamespace(id);
  }
}
