/**
 * The facts every bench result starts with: kernel, CPUs, node, date, the command that made it
 * (with its BENCH_* settings) and the commit it measured.
 */
import { readFileSync } from 'node:fs';
import { exec } from './exec.js';

export interface Machine {
  kernel: string;
  nproc: string;
  cpu: string;
  node: string;
  date: string;
  command: string;
  commit: string;
}

/** `npmScript` and `script` name how the bench is started (npm run NAME, node dist/...). */
export async function describeMachine(repoRoot: string, npmScript: string, script: string, dirtyNote = ' + uncommitted changes'): Promise<Machine> {
  const out = async (argv: string[]) => (await exec(argv).catch(() => ({ stdout: '?' }))).stdout.trim();
  const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v}`);
  const invoked = process.env['npm_lifecycle_event'] === npmScript ? `npm run ${npmScript}` : script;
  const commit = await out(['git', '-C', repoRoot, 'rev-parse', '--short', 'HEAD']);
  const dirty = (await out(['git', '-C', repoRoot, 'status', '--porcelain'])) !== '';
  return {
    kernel: await out(['uname', '-r']),
    nproc: await out(['nproc']),
    cpu,
    node: process.version,
    date: new Date().toISOString(),
    command: [...env, invoked].join(' '),
    commit: `${commit}${dirty ? dirtyNote : ''}`,
  };
}
