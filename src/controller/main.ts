/**
 * `switchyard controller`: serves the northbound API on one address (HTTP, or HTTPS with a
 * certificate) over the store of --store, and `switchyard controller token ...` makes, lists and
 * revokes the API's bearer tokens in that store. The process keeps no state of its own: several
 * controllers on one etcd are replicas, and a restarted one picks up where the store is.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { SyError } from '../errors.js';
import { parseListenAddress, isLoopback } from '../hostd/token.js';
import { buildControllerApi } from './api.js';
import { createToken, listTokens, revokeToken } from './auth.js';
import { openStore } from './store/open.js';

export const CONTROLLER_USAGE = `Usage: switchyard controller [--listen IP:PORT] [--store SPEC] [--state-dir DIR] [--tls-cert FILE --tls-key FILE]
       switchyard controller token create --tenant TENANT --role admin|tenant [--store SPEC] [--state-dir DIR]
       switchyard controller token create --role host --server ID [--store SPEC] [--state-dir DIR]
       switchyard controller token ls | revoke TOKEN-ID [--store SPEC] [--state-dir DIR]

  --listen IP:PORT     where the northbound API (/networking/v1/...) answers (default 127.0.0.1:7080)
  --store SPEC         sqlite (default: DIR/controller.db), sqlite:/PATH, or an etcd cluster:
                       etcd://HOST:PORT[,HOST:PORT...] (replicas on one cluster serve the same data)
  --state-dir DIR      default /var/lib/switchyard
  --tls-cert/--tls-key serve HTTPS with this PEM certificate and key (bearer tokens should not cross a
                       network in clear text)
  token create         prints a new token (only its hash is stored); admin tokens see everything,
                       tenant tokens only their tenant's resources, a host token only the southbound
                       routes of its server (/networking/v1/southbound/servers/ID/...)`;

const STORE_OPTIONS = { store: { type: 'string' }, 'state-dir': { type: 'string', default: '/var/lib/switchyard' } } as const;

/** Runs the command; -1 while the server keeps running, else the exit code. */
export async function controllerMain(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(CONTROLLER_USAGE);
    return 0;
  }
  if (argv[0] === 'token') return tokenCommand(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...STORE_OPTIONS, listen: { type: 'string', default: '127.0.0.1:7080' }, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' } },
  });
  if (positionals.length) throw new SyError('SY_BAD_REQUEST', `Unexpected "${positionals[0]}"\n\n${CONTROLLER_USAGE}`);
  const { host, port } = parseListenAddress(values.listen);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new SyError('SY_BAD_REQUEST', '--tls-cert and --tls-key go together');
  const tls = values['tls-cert'] ? { cert: await readFile(values['tls-cert']), key: await readFile(values['tls-key']!) } : undefined;
  // only what this file writes is logged (addresses already parsed): no user string reaches the log
  const log = (m: string) => console.log(`${new Date().toISOString()} info ${m}`);
  if (!tls && !isLoopback(host)) console.error(`${new Date().toISOString()} warn serving on ${host} without TLS: bearer tokens cross the network in clear text (give --tls-cert/--tls-key)`);
  const store = await openStore(values.store, values['state-dir']);
  const app = buildControllerApi({ store, ...(tls ? { tls } : {}) });
  try {
    await app.listen({ host, port });
  } catch (e) {
    await store.close();
    throw e;
  }
  log(`serving the northbound API on ${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/networking/v1 (store: ${store.kind})`);
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: closing the API`);
    await app.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return -1;
}

async function tokenCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...STORE_OPTIONS, tenant: { type: 'string' }, role: { type: 'string' }, server: { type: 'string' } } });
  const [verb, id, extra] = positionals;
  if (extra !== undefined || !['create', 'ls', 'revoke'].includes(verb ?? '')) throw new SyError('SY_BAD_REQUEST', `controller token create|ls|revoke\n\n${CONTROLLER_USAGE}`);
  // a host token acts for the provider's infrastructure: its tenant is the provider unless said
  const tenant = values.tenant ?? (values.role === 'host' ? 'provider' : undefined);
  if (verb === 'create' && (!tenant || !values.role)) throw new SyError('SY_BAD_REQUEST', 'controller token create needs --tenant TENANT and --role admin|tenant (or --role host --server ID)');
  if (verb === 'revoke' && !id) throw new SyError('SY_BAD_REQUEST', 'controller token revoke TOKEN-ID');
  const store = await openStore(values.store, values['state-dir']);
  try {
    if (verb === 'create') {
      const t = await createToken(store, tenant!, values.role!, values.server);
      console.error(`token ${t.id} for ${values.server !== undefined ? `server ${values.server}` : `tenant ${tenant}`} (${values.role}); it is shown once:`);
      console.log(t.token);
    } else if (verb === 'revoke') {
      await revokeToken(store, id!);
      console.log(`revoked ${id}`);
    } else {
      for (const t of await listTokens(store)) console.log(`${t.id}  ${t.role.padEnd(6)}  ${t.server !== undefined ? `server:${t.server}` : t.tenant}  ${t.created}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
