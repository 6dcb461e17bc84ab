/**
 * `switchyard install-cni [DIR]`: puts the CNI plugin binary, named `switchyard`, into DIR (default
 * /opt/cni/bin) so that a config's `"type": "switchyard"` finds it. The binary is the plugin compiled
 * by the Bun that npm installed with Switchyard into one executable (dist/cni/switchyard, by
 * scripts/setup.sh: ~110 MB, the Bun runtime included, so it needs nothing else on the host) that
 * starts in a few ms where Node needs ~75. Without it, a launcher that runs the same
 * TypeScript-compiled plugin on Node is installed instead. The file is replaced atomically, so a
 * runtime calling the plugin meanwhile sees the old or the new one, never half of it.
 */
import { chmodSync, constants, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const INSTALL_CNI_USAGE = `Usage: switchyard install-cni [DIR]   (default /opt/cni/bin; installs DIR/switchyard)`;

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where the plugin's pieces are: the Bun binary from npm, the compiled plugin, the Node entry point. */
export function pluginParts(): { bun?: string; compiled: string; nodeEntry: string } {
  const bun = join(REPO, 'node_modules/bun/bin/bun.exe');
  return {
    ...(existsSync(bun) ? { bun } : {}),
    compiled: join(REPO, 'dist/cni/switchyard'),
    nodeEntry: join(REPO, 'dist/src/cni/main.js'),
  };
}

/** Installs DIR/switchyard; returns its path and what runs it. */
export function installCni(dir: string): { path: string; runtime: string } {
  if (!dir.startsWith('/') || /[\s\n]/.test(dir)) throw new Error(`install-cni: ${JSON.stringify(dir)} is not an absolute directory path`);
  const parts = pluginParts();
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const path = join(dir, 'switchyard');
  const tmp = join(dir, `.switchyard.${process.pid}.tmp`);
  let runtime: string;
  try {
    if (existsSync(parts.compiled)) {
      // a reflink where the filesystem has them, else a copy: never a hard link, which a rebuild would change under a running runtime
      copyFileSync(parts.compiled, tmp, constants.COPYFILE_FICLONE);
      runtime = 'Bun, compiled in';
    } else if (existsSync(parts.nodeEntry)) {
      writeFileSync(tmp, `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(parts.nodeEntry)}\n`);
      runtime = process.execPath;
    } else {
      throw new Error('install-cni: the plugin is not built; run scripts/setup.sh first');
    }
    chmodSync(tmp, 0o755);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return { path, runtime };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
