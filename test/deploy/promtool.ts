// Runs Prometheus's promtool (test/setup-tools.sh installs it from Debian's prometheus package). A missing promtool
// fails the test that needs it, with a message that says how to get it.
import { spawnSync } from 'node:child_process';

export function promtool(args: string[]): { code: number | null; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new Error(missing ? 'promtool is not installed: run `sh test/setup-tools.sh` (it installs Debian\'s prometheus package)' : `promtool ${args.join(' ')}: ${r.error.message}`);
  }
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}
