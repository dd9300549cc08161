import { badRequest } from './status.js';

/*
 * Label and field selectors in their query-parameter syntax (k8s.io/apimachinery/pkg/labels and
 * pkg/fields): what `labelSelector=` and `fieldSelector=` on a list accept.
 */

export interface LabelRequirement {
  key: string;
  operator: '=' | '!=' | 'in' | 'notin' | 'exists' | '!';
  values: string[];
}

// A qualified name with an optional DNS prefix, loosely (the server's rule is stricter; close enough
// to reject what a typo produces: spaces, stray operators, empty keys).
const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

// Commas separate requirements, except inside the parentheses of `in (a,b)`.
function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim());
}

function requirementError(term: string, why: string): Error {
  return badRequest(`unable to parse requirement: ${why}: "${term}"`);
}

function checkKey(term: string, key: string): string {
  if (!KEY.test(key)) throw requirementError(term, 'invalid label key');
  return key;
}

function checkValue(term: string, value: string): string {
  if (!VALUE.test(value)) throw requirementError(term, 'invalid label value');
  return value;
}

export function parseLabelSelector(selector: string | null): LabelRequirement[] {
  if (selector === null || selector.trim() === '') return [];
  return splitTopLevel(selector).map((term): LabelRequirement => {
    if (term === '') throw requirementError(term, 'found empty requirement');
    const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term);
    if (set) {
      const [, key = '', operator, list = ''] = set;
      const values = list.split(',').map((v) => checkValue(term, v.trim()));
      return { key: checkKey(term, key), operator: operator === 'in' ? 'in' : 'notin', values };
    }
    if (term.startsWith('!')) return { key: checkKey(term, term.slice(1).trim()), operator: '!', values: [] };
    const equality = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (equality) {
      const [, key = '', operator, value = ''] = equality;
      return {
        key: checkKey(term, key),
        operator: operator === '!=' ? '!=' : '=',
        values: [checkValue(term, value.trim())],
      };
    }
    return { key: checkKey(term, term), operator: 'exists', values: [] };
  });
}

/** `!=` and `notin` also match objects without the label, as in Kubernetes. */
export function matchesLabels(
  requirements: LabelRequirement[],
  labels: Record<string, string> | undefined,
): boolean {
  return requirements.every(({ key, operator, values }) => {
    const value = labels?.[key];
    switch (operator) {
      case 'exists':
        return value !== undefined;
      case '!':
        return value === undefined;
      case '=':
      case 'in':
        return value !== undefined && values.includes(value);
      case '!=':
      case 'notin':
        return value === undefined || !values.includes(value);
    }
    return false;
  });
}

export interface FieldRequirement {
  field: string;
  operator: '=' | '!=';
  value: string;
}

// Field selectors only know `=`, `==` and `!=`.
export function parseFieldSelector(selector: string | null): FieldRequirement[] {
  if (selector === null || selector.trim() === '') return [];
  return selector.split(',').map((term) => {
    const match = /^([^=!]+)(==|=|!=)(.*)$/.exec(term.trim());
    if (!match) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const [, field = '', operator, value = ''] = match;
    return { field: field.trim(), operator: operator === '!=' ? '!=' : '=', value: value.trim() };
  });
}

export function matchesFields(
  requirements: FieldRequirement[],
  fieldValue: (field: string) => string | undefined,
): boolean {
  return requirements.every(({ field, operator, value }) => {
    const actual = fieldValue(field) ?? '';
    return operator === '=' ? actual === value : actual !== value;
  });
}

/** A `matchLabels` map in selector syntax, keys sorted, as a Scale's `status.selector` shows it. */
export function formatSelector(matchLabels: Record<string, string>): string {
  return Object.keys(matchLabels)
    .sort()
    .map((key) => `${key}=${matchLabels[key] ?? ''}`)
    .join(',');
}
