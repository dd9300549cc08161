/**
 * A strict parser of the Prometheus text exposition format 0.0.4: every line is a `# HELP`, a
 * `# TYPE`, another comment, or a sample `name{label="value",…} value [timestamp]`; a sample's family
 * must have been typed before it, a family is typed once, label values are escaped as the format says.
 * Anything else throws, naming the line.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

function parseValue(text: string, line: string): number {
  if (text === 'NaN') return Number.NaN;
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value in: ${line}`);
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let at = 0;
  while (at < text.length) {
    const eq = text.indexOf('=', at);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const name = text.slice(at, eq).trim();
    if (!LABEL.test(name) || name in labels) throw new Error(`bad label name ${name} in: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
    let value = '';
    let index = eq + 2;
    for (; ; index++) {
      const char = text[index];
      if (char === undefined) throw new Error(`unterminated label value in: ${line}`);
      if (char === '"') break;
      if (char === '\\') {
        const next = text[++index];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`bad escape in: ${line}`);
      } else value += char;
    }
    labels[name] = value;
    at = index + 1;
    if (text[at] === ',') at++;
    else if (at < text.length) throw new Error(`bad label separator in: ${line}`);
  }
  return labels;
}

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const familyOf = (sample: string): MetricFamily | undefined => {
    const exact = families.get(sample);
    if (exact) return exact;
    for (const suffix of SUFFIXES) {
      if (sample.endsWith(suffix)) {
        const family = families.get(sample.slice(0, -suffix.length));
        if (family) return family;
      }
    }
    return undefined;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!match) continue; // another comment
      const [, kind, name, rest = ''] = match as unknown as [string, string, string, string?];
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      const family = families.get(name) ?? { name, type: 'untyped' as const, samples: [] };
      if (kind === 'TYPE') {
        if (!TYPES.has(rest) || (families.has(name) && family.samples.length > 0)) {
          throw new Error(`bad or late TYPE: ${line}`);
        }
        if ((family as { typed?: boolean }).typed) throw new Error(`family typed twice: ${line}`);
        family.type = rest as MetricFamily['type'];
        (family as { typed?: boolean }).typed = true;
      } else family.help = rest;
      families.set(name, family);
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!match) throw new Error(`not a sample: ${line}`);
    const [, name, labelText = '', value] = match as unknown as [string, string, string | undefined, string];
    const family = familyOf(name);
    if (!family) throw new Error(`sample of an undeclared family: ${line}`);
    family.samples.push({ name, labels: parseLabels(labelText, line), value: parseValue(value, line) });
  }
  return families;
}

/** The sum of the samples named `name` whose labels include `labels` (0 when there are none). */
export function sampleSum(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue;
      if (Object.entries(labels).every(([key, value]) => sample.labels[key] === value)) sum += sample.value;
    }
  }
  return sum;
}

/** The samples named `name`. */
export function samplesOf(families: Map<string, MetricFamily>, name: string): Sample[] {
  return [...families.values()].flatMap((family) => family.samples.filter((sample) => sample.name === name));
}
