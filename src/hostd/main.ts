/**
 * `switchyard hostd`: loads the stored state, repairs the kernel to match it, serves the host API on
 * its unix socket (mode 0660, root and an optional group), and optionally on one TCP address with a
 * bearer token; resyncs periodically. SIGTERM/SIGINT close the sockets and leave the data plane as it
 * is (containers keep their network while hostd restarts).
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LinuxDataPlane } from '../dataplane/linux.js';
import { spawnMethod } from '../dataplane/run.js';
import { DockerFrontDoor } from '../docker/plugin-server.js';
import { buildApi } from './api.js';
import { HostService } from './service.js';
import { linuxLeaseExchange } from './lease-exchange.js';
import { Store } from './store.js';
import { isLoopback, parseListenAddress, readTokenFile } from './token.js';
import { groupId, listenOnUnixSocket, socketDirectory } from './unix-socket.js';
import { probeCapabilities } from '../dataplane/capabilities.js';

export const HOSTD_USAGE = `Usage: switchyard hostd [--state-dir DIR] [--socket PATH] [--socket-group GROUP] [--resync-interval SECONDS]
                        [--dhcp-timeout SECONDS]
                        [--listen IP:PORT --token-file FILE] [--docker [--docker-plugin-dir DIR]]

  --state-dir DIR           where objects are stored (default /var/lib/switchyard)
  --socket PATH             the host API's unix socket (default /run/switchyard/hns.sock), mode 0660,
                            owner root; its directory must not be world-writable
  --socket-group GROUP      the socket's group (default root): its members may use the API
  --listen IP:PORT          also serve the API over TCP on this address (default: no TCP at all);
                            needs --token-file
  --token-file FILE         the bearer token TCP clients must send (one line, >= 16 characters; the
                            file must not be readable by others)
  --resync-interval SECONDS full comparison with the kernel, repairing drift (default 30)
  --dhcp-timeout SECONDS    how long an endpoint of a DHCP network waits for a server's lease before
                            its create fails with SY_TIMEOUT (default 6; 0.1-600)
  --docker                  also serve Docker's remote network driver "nat" and IPAM driver "switchyard"
  --docker-plugin-dir DIR   where their sockets go (default /run/docker/plugins)`;

export async function hostdMain(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'state-dir': { type: 'string', default: '/var/lib/switchyard' },
      socket: { type: 'string', default: '/run/switchyard/hns.sock' },
      'socket-group': { type: 'string' },
      listen: { type: 'string' },
      'token-file': { type: 'string' },
      'resync-interval': { type: 'string', default: '30' },
      'dhcp-timeout': { type: 'string', default: '6' },
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
  const dhcpTimeoutMs = Math.round(Number(values['dhcp-timeout']) * 1000);
  if (!(dhcpTimeoutMs >= 100 && dhcpTimeoutMs <= 600_000)) throw new Error('--dhcp-timeout must be a number of seconds from 0.1 to 600');
  // Access is checked before anything else runs: a wrong flag must not leave a half-started hostd.
  const tcp = values.listen !== undefined ? parseListenAddress(values.listen) : undefined;
  if (tcp && values['token-file'] === undefined) {
    throw new Error(`--listen ${values.listen} needs --token-file: ${isLoopback(tcp.host) ? 'other users of this host' : 'anyone who can reach this address'} could otherwise drive the host's networking`);
  }
  if (!tcp && values['token-file'] !== undefined) throw new Error('--token-file is for --listen; the unix socket is guarded by its mode and group');
  const token = values['token-file'] !== undefined ? await readTokenFile(values['token-file']) : undefined;
  const gid = values['socket-group'] !== undefined ? await groupId(values['socket-group']) : undefined;
  await socketDirectory(values.socket);
  const log = {
    info: (m: string) => console.log(`${new Date().toISOString()} info ${logSafe(m)}`),
    warn: (m: string) => console.error(`${new Date().toISOString()} warn ${logSafe(m)}`),
  };
  if (process.getuid?.() !== 0) log.warn('hostd is not running as root: kernel changes will fail');
  log.info(`commands are started with ${spawnMethod() === 'node' ? "Node's spawn (posix_spawn could not be loaded, or SWITCHYARD_SPAWN=node)" : 'posix_spawn'}`);
  const caps = await probeCapabilities();
  if (caps.missing.length) throw new Error(`hostd cannot run on this host: ${caps.missing.join('; ')} (install what is missing: scripts/setup.sh)`);
  for (const m of caps.modes) if (!m.Supported && m.Reason !== 'not in hostd yet') log.warn(`network Type ${m.Type} is not available here: ${m.Reason}`);
  const dataplane = new LinuxDataPlane();
  log.info(`nftables changes go through ${dataplane.nft.via}`);
  const svc = new HostService({ store: new Store(values['state-dir']), dataplane, log, modes: caps.modes, dhcp: linuxLeaseExchange, dhcpTimeoutMs });
  const t0 = Date.now();
  await svc.start();
  log.info(`state restored: ${svc.state.networks.size} network(s), ${svc.state.endpoints.size} endpoint(s) in ${Date.now() - t0} ms`);

  // The Docker plugins' sockets come first: once the API answers, every front door is there.
  const docker = values.docker
    ? new DockerFrontDoor({ svc, pluginDir: values['docker-plugin-dir'], ipamFile: join(values['state-dir'], 'docker', 'ipam.json'), log })
    : undefined;
  await docker?.start();

  const socket = values.socket;
  const app = buildApi(svc);
  await app.ready();
  await listenOnUnixSocket(app.server, socket, gid);
  log.info(`serving the host API on ${socket} (mode 0660, group ${values['socket-group'] ?? 'root'})`);
  const tcpApp = tcp ? buildApi(svc, { token: token! }) : undefined;
  if (tcpApp && tcp) {
    await tcpApp.listen({ host: tcp.host, port: tcp.port });
    log.info(`serving the host API on ${values.listen} (bearer token required)`);
  }

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
    await tcpApp?.close().catch(() => undefined);
    await rm(socket, { force: true }).catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/**
 * A log line carries user strings (names in error messages, Docker option keys): control characters,
 * line and bidi marks are escaped, so no input can forge a log line or hide text in a terminal.
 */
export function logSafe(m: string): string {
  return m.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
