/**
 * A tcpdump capture on an interface of a test namespace (the fabric's port of a host, say): started
 * before the traffic, stopped after it, and read back as tcpdump's text (-e -n), which the tests
 * parse for what the wire saw. The capture process is the world's, stopped by its pid.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { run } from '../../src/dataplane/run.js';
import { waitFor, type World } from './world.js';

export async function startCapture(w: World, ns: string, ifName: string): Promise<{ stop: () => Promise<string> }> {
  const file = join(w.dir, `${ifName}-${Date.now()}.pcap`);
  const p: ChildProcess = w.spawnIn(ns, ['tcpdump', '-i', ifName, '-e', '-n', '-U', '--immediate-mode', '-w', file]);
  let said = '';
  p.stderr!.on('data', (b: Buffer) => (said += b.toString()));
  await waitFor('tcpdump to listen', async () => (await run(['ls', file], { okExitCodes: [2] })).exitCode === 0);
  return {
    stop: async () => {
      await new Promise((r) => setTimeout(r, 300)); // frames in flight reach the file (-U writes each packet)
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGINT');
      await exited;
      const { stdout, stderr } = await run(['tcpdump', '-e', '-n', '-r', file], { okExitCodes: [1] });
      if (process.env.DEBUG_CAPTURE) console.error('capture', file, stdout.length, stderr, said);
      return stdout;
    },
  };
}
