import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { registry, TEMPORAL_RUNTIME_METRICS } from '../../src/metrics.js';
import { PROJECT_ROOT } from '../../src/paths.js';

// The operations kit (ops/): every metric an alert rule or a dashboard panel names is one the code
// defines (src/metrics.ts) or the Temporal runtime exports; promtool checks the rules when installed.

const read = (path: string) => readFileSync(join(PROJECT_ROOT, path), 'utf8');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** The metric families an expression reads (a histogram's _bucket, _sum and _count are its family). */
function metricsOf(expr: string): string[] {
  // Label names (`billing_mode`) appear in matchers and groupings only: those are left out first.
  const bare = expr
    .replaceAll(/\{[^}]*\}/g, '')
    .replaceAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = [...bare.matchAll(/\b((?:billing|temporal)_[a-z0-9_]+)\b/g)].map(([, name]) => name!);
  return [...new Set(names.map((name) => name.replace(/_(bucket|sum|count)$/, '')))];
}

const known = (name: string) =>
  registry.getSingleMetric(name) !== undefined ||
  (TEMPORAL_RUNTIME_METRICS as readonly string[]).includes(name);

describe('ops kit', () => {
  const rules = (parse(read('ops/prometheus/alerts.yml')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
    (group) => group.rules,
  );

  it('should have the alert rules of the runbook, each reading metrics that exist', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'UsageCollectionFailed',
        'StripeSyncFailing',
        'StripeWebhooksRefusedRising',
        'ReconciliationMismatches',
        'WorkerTaskLatencyHigh',
        'LowBalanceRefillsFailing',
      ]),
    );
    for (const rule of rules) {
      const names = metricsOf(rule.expr);
      expect(names.length, rule.alert).toBeGreaterThan(0);
      for (const name of names) expect(known(name), `${rule.alert}: ${name}`).toBe(true);
      expect(rule.labels?.severity, rule.alert).toMatch(/^(critical|warning|info)$/);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
    }
    expect(new Set(rules.map((rule) => rule.alert)).size).toBe(rules.length);
  });

  it('should pass promtool check rules when promtool is installed', () => {
    const result = spawnSync(
      'promtool',
      ['check', 'rules', join(PROJECT_ROOT, 'ops/prometheus/alerts.yml')],
      {
        encoding: 'utf8',
      },
    );
    if (result.error) return; // not installed (Debian/Ubuntu: apt-get install prometheus)
    expect(result.stdout + result.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(result.status).toBe(0);
  });

  it('should scrape the API and the worker with the bearer token and load the rules', () => {
    const config = parse(read('ops/prometheus/prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: {
        job_name: string;
        metrics_path: string;
        authorization: { type: string; credentials_file: string };
        static_configs: { targets: string[] }[];
      }[];
    };
    expect(config.rule_files).toEqual(['alerts.yml']);
    const jobs = Object.fromEntries(config.scrape_configs.map((job) => [job.job_name, job]));
    expect(jobs['billing-api']?.static_configs[0]?.targets).toEqual(['api:3000']);
    expect(jobs['billing-worker']?.static_configs[0]?.targets).toEqual(['worker:9464']);
    for (const job of Object.values(jobs)) {
      expect(job.metrics_path).toBe('/metrics');
      expect(job.authorization).toEqual({ type: 'Bearer', credentials_file: '/tmp/metrics_token' });
    }
  });

  it('should have a dashboard whose every panel reads metrics that exist', () => {
    const dashboard = JSON.parse(read('ops/grafana/billing.json')) as {
      uid: string;
      panels: { type: string; title: string; targets?: { expr: string }[] }[];
    };
    expect(dashboard.uid).toBe('billing-orchestrator');
    const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
    expect(panels.length).toBeGreaterThan(10);
    const used = new Set<string>();
    for (const panel of panels) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        const names = metricsOf(target.expr);
        expect(names.length, panel.title).toBeGreaterThan(0);
        for (const name of names) {
          expect(known(name), `${panel.title}: ${name}`).toBe(true);
          used.add(name);
        }
      }
    }
    // The seed's monitoring figures all have a panel.
    for (const name of [
      'billing_usage_day_customers',
      'billing_stripe_meter_events_total',
      'billing_meter_reports',
      'billing_stripe_requests_total',
      'billing_low_balance_customers',
      'billing_auto_refills_today',
      'billing_credit_purchases_today',
      'billing_credit_purchases_today_usd',
      'billing_customers',
      'billing_revenue_usd',
    ]) {
      expect(used.has(name), name).toBe(true);
    }
  });
});
