/**
 * Two remote network drivers that do the least a driver can, for the Docker benchmark's floor: what
 * any libnetwork remote driver costs before it does any work of its own (Docker's plugin calls, its
 * sandbox, the embedded DNS every non-default network gets).
 *  - `nulld`: answers every call at once and gives the container no interface (Join returns no
 *    InterfaceName), the same answers hostd's `nat` gives; the container is left with lo only.
 *  - `nullveth`: makes a bare veth pair at Join and hands one end to Docker (InterfaceName), which
 *    moves it into the sandbox during the container's start, and moves it back at Leave; DeleteEndpoint
 *    deletes the pair. The floor of a driver that lets Docker place the interface.
 * Served on unix sockets in Docker's plugin directory by this process; the veths live in `hostNs`
 * (dockerd's network namespace), named nvh/nvc + the endpoint's first 8 hex digits.
 */
import { createServer, type Server } from 'node:http';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/dataplane/run.js';

type Body = { EndpointID?: string };

export class NullDrivers {
  private readonly servers: Server[] = [];

  constructor(
    private readonly pluginDir: string,
    private readonly hostNs: string,
  ) {}

  async start(): Promise<void> {
    for (const name of ['nulld', 'nullveth']) {
      const veth = name === 'nullveth';
      const server = createServer((req, res) => {
        let text = '';
        req.on('data', (c: Buffer) => (text += c.toString()));
        req.on('end', () => {
          const body = (text ? JSON.parse(text) : {}) as Body;
          this.answer(req.url!.slice(1), body, veth).then(
            (out) => res.end(JSON.stringify(out)),
            (e: Error) => res.end(JSON.stringify({ Err: e.message })),
          );
        });
      });
      const path = join(this.pluginDir, `${name}.sock`);
      await rm(path, { force: true });
      await new Promise<void>((resolve) => server.listen(path, resolve));
      this.servers.push(server);
    }
  }

  private async answer(method: string, body: Body, veth: boolean): Promise<unknown> {
    const id = (body.EndpointID ?? '').slice(0, 8);
    switch (method) {
      case 'Plugin.Activate':
        return { Implements: ['NetworkDriver'] };
      case 'NetworkDriver.GetCapabilities':
        return { Scope: 'local', ConnectivityScope: 'local' };
      case 'NetworkDriver.CreateEndpoint':
        return { Interface: {} };
      case 'NetworkDriver.Join':
        if (!veth) return { DisableGatewayService: true };
        await run(['ip', '-n', this.hostNs, 'link', 'add', `nvh${id}`, 'type', 'veth', 'peer', 'name', `nvc${id}`]);
        await run(['ip', '-n', this.hostNs, 'link', 'set', `nvh${id}`, 'up']);
        return { InterfaceName: { SrcName: `nvc${id}`, DstPrefix: 'eth' }, DisableGatewayService: true };
      case 'NetworkDriver.DeleteEndpoint':
        if (veth) await run(['ip', '-n', this.hostNs, 'link', 'del', `nvh${id}`], { okExitCodes: [1] });
        return {};
      default:
        return {};
    }
  }

  async stop(): Promise<void> {
    for (const s of this.servers) await new Promise((r) => s.close(r));
  }
}
