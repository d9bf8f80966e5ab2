// A watchdog for one child process: a detached shell that SIGKILLs it if this Node process dies without stopping it
// (SIGKILL, crash, test-runner timeout), so no broker or benchmark process outlives its owner. It exits with the child.
import { spawn } from 'node:child_process';

export function killWithOwner(childPid: number, o: { group?: boolean } = {}): void {
  const target = o.group ? `-${childPid}` : String(childPid); // a whole process group (a pipeline) when asked
  const script = `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${target} 2>/dev/null; do sleep 0.5; done; kill -9 ${target} 2>/dev/null; exit 0`;
  spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' }).unref();
}
