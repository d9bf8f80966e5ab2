// What the operating system says about a process's TCP connections (Linux /proc): the proof that a client talked only
// to the sidecars, whatever the client itself believes.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface TcpConnection {
  localPort: number;
  remotePort: number;
  state: string;
}

const ESTABLISHED = '01';
const SYN_SENT = '02';

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** TCP connections (established or being opened) owned by a process. */
export function tcpConnectionsOf(pid: number): TcpConnection[] {
  const inodes = socketInodes(pid);
  // the kernel lists a table read in several chunks from where the last chunk ended; sockets opened meanwhile shift
  // the rest, so one can be listed twice: each socket (inode) counts once
  const listed = new Set<string>();
  const out: TcpConnection[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.trim().split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const state = f[3]!;
      if (state !== ESTABLISHED && state !== SYN_SENT) continue;
      if (!inodes.has(f[9]!) || listed.has(f[9]!)) continue;
      listed.add(f[9]!);
      out.push({ localPort: parseInt(f[1]!.split(':')[1]!, 16), remotePort: parseInt(f[2]!.split(':')[1]!, 16), state });
    }
  }
  return out;
}

/** Samples a process's remote ports every `everyMs` until stop() is called. */
export function watchRemotePorts(pid: number, everyMs = 50): { ports: Set<number>; stop(): Set<number> } {
  const ports = new Set<number>();
  const sample = () => {
    for (const c of tcpConnectionsOf(pid)) ports.add(c.remotePort);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    ports,
    stop: () => {
      clearInterval(timer);
      sample();
      return ports;
    },
  };
}
