/** @jsxImportSource hono/jsx */
import { formatUsd } from '../../src/domain/money.js';
import { METRIC_LABELS } from './components.js';

/*
 * The period's daily cost, stacked by metric: an SVG drawn on the server from the rows of
 * GET /api/billing/usage (no script, no chart library). Each bar's parts name their metric and cost on
 * hover; the table above it has the same figures for screen readers and keyboards.
 */

export interface UsageRow {
  date: string;
  costs: Record<string, { costMicros: string }>;
}

const COLORS: Record<string, string> = {
  cpu_hours: '#0b5cad',
  gpu_hours: '#8a3ffc',
  memory_gb_hours: '#1a7f37',
  storage_gb_month: '#b35900',
  api_calls: '#57606a',
};
const METRICS = Object.keys(COLORS);

const WIDTH = 480;
const HEIGHT = 200;
const LEFT = 60;
const BOTTOM = 24;
const TOP = 8;

export function UsageChart(props: { rows: UsageRow[] }) {
  // One bar per day, over every cluster the customer used that day.
  const days = new Map<string, Record<string, bigint>>();
  for (const row of props.rows) {
    const day = days.get(row.date) ?? Object.fromEntries(METRICS.map((metric) => [metric, 0n]));
    for (const metric of METRICS) day[metric]! += BigInt(row.costs[metric]?.costMicros ?? '0');
    days.set(row.date, day);
  }
  const dates = [...days.keys()].sort();
  const totals = dates.map((date) =>
    Object.values(days.get(date)!).reduce((sum, micros) => sum + micros, 0n),
  );
  const max = totals.reduce((highest, total) => (total > highest ? total : highest), 0n);
  if (dates.length === 0 || max === 0n) return null;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slot = (WIDTH - LEFT) / dates.length;
  const barWidth = Math.max(2, Math.min(40, slot * 0.7));
  const scale = (micros: bigint) => (Number(micros) / Number(max)) * plotHeight;
  const highest = dates[totals.indexOf(max)]!;
  return (
    <figure>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        width="100%"
        role="img"
        aria-labelledby="chart-title chart-desc"
        preserveAspectRatio="xMinYMin meet"
      >
        <title id="chart-title">Daily cost by metric</title>
        <desc id="chart-desc">
          {`${dates.length} day(s) from ${dates[0]} to ${dates.at(-1)}; the highest, ${formatUsd(max)} USD on ${highest}.`}
        </desc>
        <line x1={LEFT} y1={TOP} x2={LEFT} y2={HEIGHT - BOTTOM} stroke="#8c959f" />
        <line x1={LEFT} y1={HEIGHT - BOTTOM} x2={WIDTH} y2={HEIGHT - BOTTOM} stroke="#8c959f" />
        <text x={LEFT - 6} y={TOP + 10} text-anchor="end" font-size="15" fill="#4d5661">
          {formatUsd(max)}
        </text>
        <text x={LEFT - 6} y={HEIGHT - BOTTOM} text-anchor="end" font-size="15" fill="#4d5661">
          $0
        </text>
        {dates.map((date, index) => {
          const x = LEFT + index * slot + (slot - barWidth) / 2;
          let y = HEIGHT - BOTTOM;
          return (
            <g>
              {METRICS.map((metric) => {
                const micros = days.get(date)![metric]!;
                if (micros === 0n) return null;
                const height = scale(micros);
                y -= height;
                return (
                  <rect x={x} y={y} width={barWidth} height={height} fill={COLORS[metric]}>
                    <title>{`${date} ${METRIC_LABELS[metric] ?? metric}: ${formatUsd(micros)} USD`}</title>
                  </rect>
                );
              })}
            </g>
          );
        })}
        <text x={LEFT} y={HEIGHT - 6} font-size="15" fill="#4d5661">
          {dates[0]}
        </text>
        {dates.length > 1 ? (
          <text x={WIDTH} y={HEIGHT - 6} text-anchor="end" font-size="15" fill="#4d5661">
            {dates.at(-1)}
          </text>
        ) : null}
      </svg>
      <figcaption class="legend">
        {METRICS.map((metric) => (
          <span>
            <svg width="12" height="12" aria-hidden="true">
              <rect width="12" height="12" fill={COLORS[metric]} />
            </svg>{' '}
            {METRIC_LABELS[metric] ?? metric}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
