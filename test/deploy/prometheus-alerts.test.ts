// The alerting rules (deploy/prometheus/alerts.yaml): promtool checks them and runs their unit tests
// (alerts.test.yaml), in which every alert fires in one case and stays quiet in another; each alert says what
// happened and what to do; and every metric they ask for is one a running proxy exports.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { exportedMetricTypes, metricNamesIn, unexported } from './exported-metrics.js';
import { promtool } from './promtool.js';

const RULES = 'deploy/prometheus/alerts.yaml';
const TESTS = 'deploy/prometheus/alerts.test.yaml';

interface Rule { alert?: string; expr: string; annotations?: Record<string, string> }
interface RuleTests { tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] }

const alerts = (parseYaml(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules).filter((r) => r.alert);

t.test('promtool check rules accepts them', async (t) => {
  const r = promtool(['check', 'rules', RULES]);
  t.equal(r.code, 0, r.output);
  t.match(r.output, new RegExp(`SUCCESS: ${alerts.length} rules found`));
});

t.test('promtool test rules passes alerts.test.yaml', async (t) => {
  const r = promtool(['test', 'rules', TESTS]);
  t.equal(r.code, 0, r.output);
  t.match(r.output, /SUCCESS/);
});

t.test('every alert fires in a test case and stays quiet in another, and says what to do', async (t) => {
  const cases = (parseYaml(readFileSync(TESTS, 'utf8')) as RuleTests).tests.flatMap((test) => test.alert_rule_test ?? []);
  for (const a of alerts) {
    const own = cases.filter((c) => c.alertname === a.alert);
    t.ok(own.some((c) => (c.exp_alerts ?? []).length > 0), `${a.alert} fires in a case`);
    t.ok(own.some((c) => (c.exp_alerts ?? []).length === 0), `${a.alert} stays quiet in a case`);
    t.ok(a.annotations?.summary && a.annotations.description, `${a.alert} has a summary and a description`);
  }
});

t.test('the alerts watch evictions that lost debt, overflow, throttled tenants, upstream errors, readiness, reloads and quota drift', async (t) => {
  const used = new Set(alerts.flatMap((a) => metricNamesIn(a.expr)));
  const wanted = [
    'kqp_quota_evictions_lost_debt_total', 'kqp_quota_overflow_total', 'kqp_tenant_throttled_time_seconds_total', 'kqp_upstream_errors_total', 'kqp_ready',
    'kqp_config_last_reload_failure_timestamp_seconds', 'kqp_config_restart_pending', 'kqp_quota_rate',
  ];
  t.same(wanted.filter((name) => !used.has(name)), [], 'an alert for each');
});

t.test('every metric the alerts ask for is one a running proxy exports', async (t) => {
  const names = new Set(alerts.flatMap((a) => metricNamesIn(a.expr)));
  t.same(unexported(names, await exportedMetricTypes()), [], `${names.size} names, every one in a # TYPE line of /metrics`);
});
