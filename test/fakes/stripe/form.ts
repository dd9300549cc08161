import qs from 'qs';
import { invalidRequest, missingParam } from './errors.js';

// What qs makes of Stripe's bracket notation: strings, arrays and nested objects of those.
export type ParamValue = string | ParamValue[] | Params;
export interface Params {
  [key: string]: ParamValue | undefined;
}

// Stripe indexes arrays (`items[0][price]`); qs turns indexes above arrayLimit into object keys, so the
// limit is raised well past anything a billing request sends.
export function parseForm(text: string): Params {
  if (!text) return {};
  return qs.parse(text, { depth: 10, arrayLimit: 1000, parameterLimit: 10_000 }) as Params;
}

export function isParams(value: unknown): value is Params {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function optString(params: Params, name: string, label = name): string | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw invalidRequest(`Invalid string: ${label}`, label, 'parameter_invalid_string');
  return value;
}

export function reqString(params: Params, name: string, label = name): string {
  const value = optString(params, name, label);
  if (value === undefined || value === '') throw missingParam(label);
  return value;
}

export function optInt(params: Params, name: string, label = name): number | undefined {
  const value = optString(params, name, label);
  if (value === undefined || value === '') return undefined;
  if (!/^-?\d+$/.test(value)) {
    throw invalidRequest(`Invalid integer: ${value}`, label, 'parameter_invalid_integer');
  }
  return Number(value);
}

export function optBool(params: Params, name: string, label = name): boolean | undefined {
  const value = optString(params, name, label);
  if (value === undefined || value === '') return undefined;
  if (value !== 'true' && value !== 'false') {
    throw invalidRequest(`Invalid boolean: ${value}`, label, 'parameter_invalid_boolean');
  }
  return value === 'true';
}

export function optEnum<T extends string>(
  params: Params,
  name: string,
  allowed: readonly T[],
  label = name,
): T | undefined {
  const value = optString(params, name, label);
  if (value === undefined || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw invalidRequest(`Invalid ${label}: must be one of ${allowed.join(', ')}`, label);
  }
  return value as T;
}

export function optObject(params: Params, name: string, label = name): Params | undefined {
  const value = params[name];
  if (value === undefined || value === '') return undefined;
  if (!isParams(value)) throw invalidRequest(`Invalid object`, label, 'parameter_invalid_object');
  return value;
}

// qs gives an array for dense indexes and an object for sparse or huge ones; both mean a list to Stripe.
export function optList(params: Params, name: string): Params[] | undefined {
  const value = params[name];
  if (value === undefined || value === '') return undefined;
  const entries = Array.isArray(value) ? value : isParams(value) ? Object.values(value) : undefined;
  if (!entries || !entries.every(isParams))
    throw invalidRequest(`Invalid array`, name, 'parameter_invalid_array');
  return entries as Params[];
}

export function optStringList(params: Params, name: string): string[] {
  const value = params[name];
  if (value === undefined || value === '') return [];
  const entries = Array.isArray(value) ? value : isParams(value) ? Object.values(value) : [value];
  return entries.filter((entry): entry is string => typeof entry === 'string');
}

export type Metadata = Record<string, string>;

// Stripe merges metadata on update: a key set to '' is removed, and `metadata=''` clears every key.
export function applyMetadata(current: Metadata, params: Params, name = 'metadata'): Metadata {
  const value = params[name];
  if (value === undefined) return current;
  if (value === '') return {};
  if (!isParams(value)) throw invalidRequest('Invalid metadata: must be a hash', name);
  const next = { ...current };
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw invalidRequest(`Invalid metadata[${key}]: must be a string`, name);
    if (entry === '') delete next[key];
    else next[key] = entry;
  }
  return next;
}

// Sorted keys so that the same parameters compare equal however the client ordered them.
export function canonicalParams(params: Params): string {
  const sort = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sort);
    if (isParams(value)) {
      return Object.fromEntries(
        Object.keys(value)
          .sort()
          .map((key) => [key, sort(value[key])]),
      );
    }
    return value;
  };
  return JSON.stringify(sort(params));
}
