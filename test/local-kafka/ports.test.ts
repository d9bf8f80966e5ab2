// freePorts: distinct ports, free when returned, drawn below the kernel's ephemeral range (where outgoing connections
// take theirs), so that a process given one can still bind it a moment later; holdPorts renews their notes (a broker
// killed and started again on its ports).
import t from 'tap';
import { readFileSync, statSync, utimesSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, holdPorts } from '../../src/local-kafka/ports.js';

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

t.test('holdPorts notes drawn ports as drawn now (a killed broker keeps its ports for its restart)', async (t) => {
  const [port] = await freePorts(1);
  const note = join(tmpdir(), 'kqp-ports', String(port));
  const old = new Date(Date.now() - 10 * 60_000);
  utimesSync(note, old, old);
  holdPorts([port!]);
  const age = Date.now() - statSync(note).mtimeMs;
  t.ok(age < 60_000, `its note, ten minutes old, is new again (${age.toFixed(0)} ms)`);
});
