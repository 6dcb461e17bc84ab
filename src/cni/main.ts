/**
 * The `switchyard` CNI plugin binary (installed by `switchyard install-cni`): reads the CNI request
 * from the environment and stdin, forwards it to hostd, prints the result or the CNI error as JSON
 * on stdout. Exit status: 0 done, 1 error (the JSON says which). Compiled by Bun into one
 * executable (dist/cni/switchyard, see scripts/setup.sh); it also runs on Node, only slower to start.
 */
import { commandOf, parseRequest, SUPPORTED_VERSIONS, versionOf } from './config.js';
import { CNI_CODES, CniError } from './errors.js';
import { Plugin } from './plugin.js';
import { pathExists, readStdin, sha256hex, unixRequest, Unreachable, writeStdout } from './runtime.js';

async function main(): Promise<number> {
  const env = process.env;
  let stdin = '';
  let version = '1.1.0';
  try {
    // VERSION may come with an empty stdin (the spec's "cniVersion" only); read stdin for all others.
    const command = commandOf(env);
    stdin = await readStdin();
    version = versionOf(stdin);
    if (command === 'VERSION') {
      // VERSION's stdin holds only {"cniVersion": ...} (or nothing): answer without a full config.
      await writeStdout(JSON.stringify({ cniVersion: version, supportedVersions: [...SUPPORTED_VERSIONS] }) + '\n');
      return 0;
    }
    const req = parseRequest(env, stdin);
    // SWITCHYARD_CNI_TRACE=1: each hostd request and the time since start on stderr (runtimes log it)
    const trace = env.SWITCHYARD_CNI_TRACE === '1' ? (l: string) => console.error(`switchyard-cni +${performance.now().toFixed(1)} ms: ${l}`) : undefined;
    trace?.(`${req.command} ${req.containerId} ${req.ifName}`);
    const out = await new Plugin(req, { request: unixRequest, sha256hex, pathExists, ...(trace ? { trace } : {}) }).run();
    trace?.('done');
    if (out !== undefined) await writeStdout(JSON.stringify(out) + '\n');
    return 0;
  } catch (e) {
    const err =
      e instanceof CniError
        ? e
        : e instanceof Unreachable
          ? new CniError(CNI_CODES.TRY_AGAIN_LATER, e.message, 'is switchyard hostd running? (config key "socket" names its socket)')
          : new CniError(CNI_CODES.IO_FAILURE, e instanceof Error ? e.message : String(e));
    await writeStdout(JSON.stringify(err.toJSON(version)) + '\n');
    return 1;
  }
}

// not a top-level await: the installed binary is compiled to bytecode, which wants a CommonJS-shaped module
void main().then((code) => process.exit(code));
