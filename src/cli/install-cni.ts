/**
 * `switchyard install-cni [DIR]`: puts the CNI plugin binary, named `switchyard`, into DIR (default
 * /opt/cni/bin) so that a config's `"type": "switchyard"` finds it. The binary is the plugin built
 * into one file (dist/cni/switchyard.js, by scripts/setup.sh) run by the Bun that npm installed with
 * Switchyard: it starts in ~7 ms where Node needs ~75. Without Bun it falls back to a launcher that
 * runs the same TypeScript-compiled plugin on Node. The file is replaced atomically, so a runtime
 * calling the plugin meanwhile sees the old or the new one, never half of it.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const INSTALL_CNI_USAGE = `Usage: switchyard install-cni [DIR]   (default /opt/cni/bin; installs DIR/switchyard)`;

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Where the plugin's pieces are: the Bun binary from npm, the bundle, the Node entry point. */
export function pluginParts(): { bun?: string; bundle: string; nodeEntry: string } {
  const bun = join(REPO, 'node_modules/bun/bin/bun.exe');
  return {
    ...(existsSync(bun) ? { bun } : {}),
    bundle: join(REPO, 'dist/cni/switchyard.js'),
    nodeEntry: join(REPO, 'dist/src/cni/main.js'),
  };
}

/** Installs DIR/switchyard; returns its path and what runs it. */
export function installCni(dir: string): { path: string; runtime: string } {
  if (!dir.startsWith('/') || /[\s\n]/.test(dir)) throw new Error(`install-cni: ${JSON.stringify(dir)} is not an absolute directory path`);
  const parts = pluginParts();
  let text: string;
  let runtime: string;
  if (parts.bun && existsSync(parts.bundle)) {
    text = `#!${parts.bun}\n${readFileSync(parts.bundle, 'utf8').replace(/^#!.*\n/, '')}`;
    runtime = parts.bun;
  } else if (existsSync(parts.nodeEntry)) {
    text = `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(parts.nodeEntry)}\n`;
    runtime = process.execPath;
  } else {
    throw new Error('install-cni: the plugin is not built; run scripts/setup.sh first');
  }
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const path = join(dir, 'switchyard');
  const tmp = join(dir, `.switchyard.${process.pid}.tmp`);
  writeFileSync(tmp, text, { mode: 0o755 });
  chmodSync(tmp, 0o755);
  renameSync(tmp, path);
  return { path, runtime };
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
