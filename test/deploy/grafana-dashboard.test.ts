// The Grafana dashboard (deploy/grafana/kafka-quota-proxy.json): it parses and has panels, each querying the proxy;
// it covers what an operator of the sidecars watches; every kqp_* name a panel or variable asks for is one a running
// proxy exports; and every panel query is valid PromQL (promtool checks them, as recording rules).
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { exportedMetricTypes, metricNamesIn, unexported } from './exported-metrics.js';
import { promtool } from './promtool.js';

interface Panel { id: number; type: string; title: string; panels?: Panel[]; targets?: { expr?: string }[] }
interface Variable { name: string; type: string; query?: string | { query: string } }
interface Dashboard { title: string; uid: string; panels: Panel[]; templating: { list: Variable[] } }

const dashboard = JSON.parse(readFileSync('deploy/grafana/kafka-quota-proxy.json', 'utf8')) as Dashboard;
const flatten = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...flatten(p.panels ?? [])]);
const queried = flatten(dashboard.panels).filter((p) => p.type !== 'row');
const exprsOf = (p: Panel) => (p.targets ?? []).flatMap((target) => (target.expr ? [target.expr] : []));
const variableQuery = (v: Variable) => (typeof v.query === 'string' ? v.query : v.query?.query ?? '');

t.test('the dashboard parses and has panels, each querying the proxy', async (t) => {
  t.ok(dashboard.title && dashboard.uid, `"${dashboard.title}" (uid ${dashboard.uid})`);
  t.ok(queried.length > 0, `${queried.length} panels`);
  const ids = flatten(dashboard.panels).map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of queried) t.ok(exprsOf(p).some((e) => metricNamesIn(e).length > 0), `"${p.title}" queries the proxy's metrics`);
});

t.test('it shows tenants against quota, throttling, the quota table, connections, errors, latency, the admin gate and the broker budget', async (t) => {
  const used = new Set(queried.flatMap(exprsOf).flatMap(metricNamesIn));
  const wanted = [
    'kqp_tenant_bytes_total', 'kqp_tenant_throttled_time_seconds_total', 'kqp_quota_slots_used', 'kqp_quota_slots_capacity',
    'kqp_quota_evictions_total', 'kqp_quota_evictions_lost_debt_total', 'kqp_quota_overflow_total', 'kqp_connections_active',
    'kqp_upstream_errors_total', 'kqp_request_duration_seconds_bucket', 'kqp_admin_gate_in_flight', 'kqp_admin_gate_waiting',
    'kqp_broker_budget_waits_total', 'kqp_ready', 'kqp_quota_rate',
  ];
  t.same(wanted.filter((name) => !used.has(name)), [], 'every one of them is queried');
});

t.test('every metric a panel or a variable queries is one a running proxy exports', async (t) => {
  const names = new Set([...queried.flatMap(exprsOf), ...dashboard.templating.list.map(variableQuery)].flatMap(metricNamesIn));
  const types = await exportedMetricTypes();
  t.same(unexported(names, types), [], `${names.size} names queried, every one in a # TYPE line of /metrics`);
});

t.test('every *_total metric of the proxy\'s own is declared a counter (tools go by the TYPE line)', async (t) => {
  const types = await exportedMetricTypes();
  // prom-client's default Node.js metrics are its own (kqp_nodejs_active_*_total are gauges there)
  const totals = [...types].filter(([name]) => name.endsWith('_total') && !name.startsWith('kqp_nodejs_'));
  t.same(totals.filter(([, type]) => type !== 'counter'), [], `${totals.length} *_total metrics of the proxy's own, each TYPE counter`);
});

t.test('every panel query is valid PromQL', async (t) => {
  // Grafana's variables as a query would see them: intervals as 5m, textboxes as their default, the rest match all.
  const values = new Map(dashboard.templating.list.map((v) => [v.name, v.type === 'textbox' ? variableQuery(v) : '.*']));
  const undefinedVariables = new Set<string>();
  const rules = queried.flatMap((p) => exprsOf(p).map((expr, i) => ({
    record: `dashboard:panel_${p.id}:${i}`,
    // $1 is label_replace's capture group (Grafana leaves a name it has no variable for as it is)
    expr: expr.replace(/\$\{?([A-Za-z_]\w*)\}?/g, (_, name: string) => {
      if (name.startsWith('__')) return '5m';
      if (!values.has(name)) undefinedVariables.add(name);
      return values.get(name) ?? '';
    }),
  })));
  t.same([...undefinedVariables], [], 'every variable a query uses is defined');
  const dir = mkdtempSync(join(tmpdir(), 'kqp-dashboard-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'dashboard-queries.yaml');
  writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
  const r = promtool(['check', 'rules', file]);
  t.equal(r.code, 0, `promtool check rules: ${r.output}`);
  t.match(r.output, new RegExp(`SUCCESS: ${rules.length} rules found`), `${rules.length} queries`);
});
