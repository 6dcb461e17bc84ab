/** A minimal busybox root filesystem for real runtimes (no registry is reachable: Debian's busybox-static). */
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const APPLETS = ['sh', 'httpd', 'sleep', 'ip', 'cat', 'ls', 'wget', 'ifconfig', 'true', 'nc', 'printf', 'tail', 'grep'];

/** Makes DIR/rootfs with /bin/busybox, its applets and `files` (path → content); answers its path. */
export function busyboxRootfs(dir: string, files: Record<string, string> = {}): string {
  const root = join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', 'www']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  for (const a of APPLETS) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), content);
  }
  return root;
}
