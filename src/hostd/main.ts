/**
 * `switchyard hostd`: loads the stored state, repairs the kernel to match it, serves the host API on
 * its unix socket, and resyncs periodically. SIGTERM/SIGINT close the socket and leave the data plane
 * as it is (containers keep their network while hostd restarts).
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { LinuxDataPlane } from '../dataplane/linux.js';
import { useCommandHelper } from '../dataplane/run.js';
import { DockerFrontDoor } from '../docker/plugin-server.js';
import { buildApi } from './api.js';
import { HostService } from './service.js';
import { Store } from './store.js';

export const HOSTD_USAGE = `Usage: switchyard hostd [--state-dir DIR] [--socket PATH] [--resync-interval SECONDS]
                        [--docker [--docker-plugin-dir DIR]]

  --state-dir DIR           where objects are stored (default /var/lib/switchyard)
  --socket PATH             the host API's unix socket (default /run/switchyard/hns.sock)
  --resync-interval SECONDS full comparison with the kernel, repairing drift (default 30)
  --docker                  also serve Docker's remote network driver "nat" and IPAM driver "switchyard"
  --docker-plugin-dir DIR   where their sockets go (default /run/docker/plugins)`;

export async function hostdMain(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'state-dir': { type: 'string', default: '/var/lib/switchyard' },
      socket: { type: 'string', default: '/run/switchyard/hns.sock' },
      'resync-interval': { type: 'string', default: '30' },
      docker: { type: 'boolean', default: false },
      'docker-plugin-dir': { type: 'string', default: '/run/docker/plugins' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HOSTD_USAGE);
    return;
  }
  const resyncMs = Number(values['resync-interval']) * 1000;
  if (!(resyncMs > 0)) throw new Error('--resync-interval must be a positive number of seconds');
  const log = {
    info: (m: string) => console.log(`${new Date().toISOString()} info ${m}`),
    warn: (m: string) => console.error(`${new Date().toISOString()} warn ${m}`),
  };
  if (process.getuid?.() !== 0) log.warn('hostd is not running as root: kernel changes will fail');
  // commands started by a small Bun process cost a fraction of forking hostd for each (run.ts)
  if (!useCommandHelper((why) => log.warn(`the command helper ${why}; hostd starts its commands itself from now on`))) {
    log.info('no command helper (Bun is not installed, or SWITCHYARD_COMMAND_HELPER=0): hostd starts its commands itself');
  }
  const dataplane = new LinuxDataPlane();
  log.info(`nftables changes go through ${dataplane.nft.via}`);
  const svc = new HostService({ store: new Store(values['state-dir']), dataplane, log });
  const t0 = Date.now();
  await svc.start();
  log.info(`state restored: ${svc.state.networks.size} network(s), ${svc.state.endpoints.size} endpoint(s) in ${Date.now() - t0} ms`);

  const socket = values.socket;
  await mkdir(dirname(socket), { recursive: true, mode: 0o755 });
  await rm(socket, { force: true });
  const app = buildApi(svc);
  await app.listen({ path: socket });
  await chmod(socket, 0o660);
  log.info(`serving the host API on ${socket}`);
  const docker = values.docker
    ? new DockerFrontDoor({ svc, pluginDir: values['docker-plugin-dir'], ipamFile: join(values['state-dir'], 'docker', 'ipam.json'), log })
    : undefined;
  await docker?.start();

  let stopping = false;
  const timer = setInterval(() => {
    if (!stopping) svc.resync().catch((e: Error) => log.warn(`resync failed: ${e.message}`));
  }, resyncMs);
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    log.info(`${sig}: closing the API; the data plane stays as it is`);
    await docker?.stop().catch(() => undefined);
    await app.close().catch(() => undefined);
    await rm(socket, { force: true }).catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
