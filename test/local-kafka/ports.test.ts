// freePorts: distinct ports, free when returned, drawn below the kernel's ephemeral range (where outgoing connections
// take theirs), so that a process given one can still bind it a moment later.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePorts } from '../../src/local-kafka/ports.js';

t.test('distinct, bindable, below the ephemeral range', async (t) => {
  const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  const ports = await freePorts(20);
  t.equal(new Set(ports).size, 20, 'twenty distinct ports');
  t.ok(ports.every((p) => p >= 1024 && p < first), `all below ${first}: ${ports.slice(0, 5).join(', ')}, ...`);
  const servers = await Promise.all(ports.map((p) => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(p, '127.0.0.1', () => resolve(s));
  })));
  t.equal(servers.length, 20, 'each could be bound after');
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});
