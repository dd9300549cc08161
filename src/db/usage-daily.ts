import type { Metric } from '../domain/pricing.js';

/** The `usage_daily` column holding each billed metric's cost in micro-dollars. */
export const COST_COLUMNS: Record<Metric, string> = {
  cpu_hours: 'cpu_cost_micros',
  gpu_hours: 'gpu_cost_micros',
  memory_gb_hours: 'memory_cost_micros',
  storage_gb_month: 'storage_cost_micros',
  api_calls: 'api_calls_cost_micros',
};
