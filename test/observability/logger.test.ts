// The rate-limited warnings: at most perWindow lines of a kind per window and then how many were dropped; at most
// maxKinds kinds, those not seen in the current window forgotten first, so that kinds seen once long ago (a tenant's
// shadow-mode lines, say) cannot take the places of the warnings that come later.
import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger, RateLimitedLog } from '../../src/observability/logger.js';

function capture() {
  const lines: { kind?: string; msg: string; suppressed?: number }[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as (typeof lines)[number]);
      done();
    },
  });
  return { lines, log: createLogger('warn', out) };
}
const flush = () => new Promise((r) => setImmediate(r));

t.test('ten lines of a kind a minute, then how many were dropped', async (t) => {
  const clock = { ms: 0 };
  const { lines, log } = capture();
  const warn = new RateLimitedLog(log, 10, 60_000, 64, () => clock.ms);
  for (let i = 0; i < 25; i++) warn.warn('bad-client-frame', { i }, 'bad frame');
  await flush();
  t.equal(lines.length, 10, 'ten lines in the first minute');
  clock.ms = 60_000;
  warn.warn('bad-client-frame', {}, 'bad frame');
  await flush();
  t.match(lines.slice(10), [{ kind: 'bad-client-frame', suppressed: 15 }, { kind: 'bad-client-frame', msg: 'bad frame' }], 'the next minute: the 15 dropped, then the line');
});

t.test('kinds not seen this minute make room for new ones; within a minute, kinds beyond maxKinds share one', async (t) => {
  const clock = { ms: 0 };
  const { lines, log } = capture();
  const warn = new RateLimitedLog(log, 10, 60_000, 64, () => clock.ms);
  for (let i = 0; i < 80; i++) for (let n = 0; n < 11; n++) warn.warn(`shadow:tenant-${i}`, {}, 'would throttle');
  await flush();
  t.equal(lines.length, 64 * 10 + 10, '64 kinds of their own, ten lines each; the 16 beyond share ten');
  lines.length = 0;
  clock.ms = 60_000;
  warn.warn('internal', {}, 'internal error');
  warn.warn('tls_client_certificate_expired', {}, 'expired');
  await flush();
  const own = lines.filter((l) => l.suppressed === undefined);
  t.same(own.map((l) => l.kind), ['internal', 'tls_client_certificate_expired'], 'a minute later, new kinds are written');
  t.equal(lines.filter((l) => l.suppressed === 1).length, 64, 'after saying what each forgotten kind dropped');
  t.match(lines.find((l) => l.kind === '(other)'), { suppressed: 16 * 11 - 10 }, 'and what the shared kind dropped');
});
