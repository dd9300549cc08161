import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

// JSON Schemas of Stripe's objects and request parameters, derived from the TypeScript types that the
// installed `stripe` package generates from Stripe's OpenAPI spec for the API version it pins. Stripe
// publishes no spec for that version in a package registry (stripe-mock's embedded spec is older), so
// the SDK's types are the nearest definition of the pinned version that a clean machine can get.
//
// The types are read by the TypeScript compiler itself (its checker resolves every alias, namespace
// and generic), from a copy of the SDK's declarations with two edits that make the types as strict
// as the wire: open enums (`'a' | 'b' | OtherString`) are closed to the values this SDK version knows,
// and `Decimal` is the string Stripe sends. Every property the SDK does not mark optional is required,
// and no object may carry a property the SDK does not declare.

export type JsonSchema = Record<string, unknown>;

export interface SdkSchemas {
  /** The SDK's version and the API version it pins. */
  stripeVersion: string;
  apiVersion: string;
  /** One schema per root name, each a `$ref` into `definitions`. */
  roots: Record<string, JsonSchema>;
  definitions: Record<string, JsonSchema>;
}

/**
 * A root is a name and a type expression over the SDK's `Stripe` namespace, e.g.
 * `['subscription', 'Stripe.Subscription']`. `response` roots describe JSON Stripe sends; `request`
 * roots describe form-encoded parameters as the fake parses them (every scalar a string).
 */
export interface SchemaRoots {
  response: Record<string, string>;
  request: Record<string, string>;
}

const GENERATOR_REVISION = 1;

const require = createRequire(import.meta.url);
const stripeDir = packageDir(require.resolve('stripe'));
const stripePackageJson = join(stripeDir, 'package.json');

function packageDir(file: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'stripe'
    ) {
      return dir;
    }
  }
  throw new Error(`no stripe package above ${file}`);
}

export function stripePackage(): { version: string; apiVersion: string } {
  const { version } = JSON.parse(readFileSync(stripePackageJson, 'utf8')) as { version: string };
  const apiSource = readFileSync(join(stripeDir, 'esm', 'apiVersion.js'), 'utf8');
  const apiVersion = /ApiVersion = '([^']+)'/.exec(apiSource)?.[1];
  if (!apiVersion) throw new Error('cannot read the API version the stripe package pins');
  return { version, apiVersion };
}

function cacheRoot(): string {
  // node_modules/.cache is where tools keep derived files; it goes with the installed packages.
  return join(dirname(dirname(stripeDir)), 'node_modules', '.cache', 'stripe-sdk-schemas');
}

/** The schemas for `roots`, generated once per SDK version and set of roots, then read from the cache. */
export function loadSdkSchemas(roots: SchemaRoots): SdkSchemas {
  const { version } = stripePackage();
  const key = createHash('sha256')
    .update(JSON.stringify({ GENERATOR_REVISION, version, roots }))
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .digest('hex')
    .slice(0, 16);
  const file = join(cacheRoot(), `${version}-${key}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as SdkSchemas;
  const schemas = generateSdkSchemas(roots);
  mkdirSync(cacheRoot(), { recursive: true });
  const scratch = `${file}.${process.pid}.tmp`;
  writeFileSync(scratch, JSON.stringify(schemas));
  renameSync(scratch, file);
  return schemas;
}

/** Copies the SDK's declarations to a scratch folder with enums closed and decimals as strings. */
function strictDeclarations(target: string): void {
  rmSync(target, { recursive: true, force: true });
  const source = join(stripeDir, 'esm');
  cpSync(source, target, {
    recursive: true,
    filter: (path) => !/\.(js|map)$/.test(path) || path === source,
  });
  const sharedFile = join(target, 'shared.d.ts');
  const shared = readFileSync(sharedFile, 'utf8');
  const openEnum = 'export type OtherString = string & Record<never, never>;';
  const decimalExport = "export { Decimal } from './Decimal.js';";
  if (!shared.includes(openEnum) || !shared.includes(decimalExport)) {
    throw new Error('the stripe package no longer declares OtherString or Decimal as this generator expects');
  }
  writeFileSync(
    sharedFile,
    shared
      .replace(openEnum, 'export type OtherString = never;')
      .replace(decimalExport, 'export type Decimal = string;'),
  );
  writeFileSync(join(target, 'Decimal.d.ts'), 'export type Decimal = string;\n');
}

export function generateSdkSchemas(roots: SchemaRoots): SdkSchemas {
  const { version, apiVersion } = stripePackage();
  const scratch = join(cacheRoot(), `scratch-${process.pid}`);
  const sdk = join(scratch, 'sdk');
  strictDeclarations(sdk);
  const entry = join(scratch, 'roots.ts');
  const entries = (kind: keyof SchemaRoots) =>
    Object.entries(roots[kind])
      .map(([name, type]) => `  ${JSON.stringify(`${kind}:${name}`)}: ${type};`)
      .join('\n');
  writeFileSync(
    entry,
    `import type { Stripe } from './sdk/stripe.core.js';\nexport interface Roots {\n${entries('response')}\n${entries('request')}\n}\n`,
  );
  try {
    const program = ts.createProgram([entry], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      types: [],
    });
    const problems = ts
      .getPreEmitDiagnostics(program, program.getSourceFile(entry))
      .map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    if (problems.length > 0) throw new Error(`the schema roots do not type-check:\n${problems.join('\n')}`);
    const checker = program.getTypeChecker();
    const source = program.getSourceFile(entry)!;
    const rootsDeclaration = source.statements.find(ts.isInterfaceDeclaration)!;
    const rootsType = checker.getTypeAtLocation(rootsDeclaration);
    const definitions: Record<string, JsonSchema> = {};
    const response = new SchemaBuilder(checker, 'response', definitions);
    const request = new SchemaBuilder(checker, 'request', definitions);
    const out: Record<string, JsonSchema> = {};
    for (const property of checker.getPropertiesOfType(rootsType)) {
      const [kind, name] = property.name.split(/:(.*)/s) as [keyof SchemaRoots, string];
      const builder = kind === 'response' ? response : request;
      out[`${kind}:${name}`] = builder.convert(checker.getTypeOfSymbol(property));
    }
    return { stripeVersion: version, apiVersion, roots: out, definitions };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

const formNumber = { type: 'string', pattern: '^-?[0-9]+(\\.[0-9]+)?$' };

/** Turns checker types into JSON Schema; named object types become shared definitions. */
class SchemaBuilder {
  private readonly names = new Map<ts.Type, string>();
  private readonly taken = new Set<string>();

  constructor(
    private readonly checker: ts.TypeChecker,
    private readonly mode: 'response' | 'request',
    private readonly definitions: Record<string, JsonSchema>,
  ) {}

  convert(type: ts.Type): JsonSchema {
    const form = this.mode === 'request';
    const flags = type.flags;
    if (flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return {};
    if (flags & ts.TypeFlags.Never) return { not: {} };
    if (flags & ts.TypeFlags.Boolean) return form ? { enum: ['true', 'false'] } : { type: 'boolean' };
    if (flags & ts.TypeFlags.String) return { type: 'string' };
    if (flags & ts.TypeFlags.Number) return form ? formNumber : { type: 'number' };
    if (flags & ts.TypeFlags.Null) return form ? { const: '' } : { type: 'null' };
    if (type.isStringLiteral()) return { const: type.value };
    if (type.isNumberLiteral()) return { const: form ? String(type.value) : type.value };
    if (flags & ts.TypeFlags.BooleanLiteral) {
      const value = this.checker.typeToString(type) === 'true';
      return { const: form ? String(value) : value };
    }
    if (type.isUnion()) return this.union(type.types);
    if (this.checker.isArrayType(type) || this.checker.isTupleType(type)) {
      const [element] = this.checker.getTypeArguments(type as ts.TypeReference);
      return { type: 'array', items: element ? this.convert(element) : {} };
    }
    if (flags & ts.TypeFlags.Object || type.isIntersection()) return this.object(type);
    throw new Error(`no JSON Schema for the type ${this.checker.typeToString(type)}`);
  }

  private union(members: ts.Type[]): JsonSchema {
    const present = members.filter(
      (member) => !(member.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)),
    );
    const literals: unknown[] = [];
    const schemas: JsonSchema[] = [];
    const booleans = present.filter((member) => member.flags & ts.TypeFlags.BooleanLiteral);
    for (const member of present) {
      if (booleans.length === 2 && booleans.includes(member)) continue;
      const schema = this.convert(member);
      if ('const' in schema && Object.keys(schema).length === 1) {
        if (!literals.includes(schema.const)) literals.push(schema.const);
      } else schemas.push(schema);
    }
    if (booleans.length === 2) schemas.push(this.convert(this.checker.getBooleanType()));
    if (literals.length > 0) schemas.unshift({ enum: literals });
    // `deleted?: void` and the like: the property is never sent.
    if (schemas.length === 0) return { not: {} };
    return schemas.length === 1 ? schemas[0]! : { anyOf: schemas };
  }

  private object(type: ts.Type): JsonSchema {
    const symbol = type.aliasSymbol ?? type.getSymbol();
    const anonymous = !symbol || symbol.name.startsWith('__');
    if (anonymous) return this.shape(type);
    let name = this.names.get(type);
    if (!name) {
      name = this.nameOf(type, symbol);
      this.names.set(type, name);
      this.definitions[name] = {};
      this.definitions[name] = this.shape(type);
    }
    return { $ref: `#/definitions/${name}` };
  }

  private nameOf(type: ts.Type, symbol: ts.Symbol): string {
    const qualified = this.checker
      .getFullyQualifiedName(symbol)
      .replace(/^"[^"]*\/sdk\/([^"]*)"\./, (_, file: string) => `${file.replace(/\.d$/, '')}:`);
    const args = (type.aliasTypeArguments ?? this.checker.getTypeArguments(type as ts.TypeReference) ?? [])
      .map((arg) => this.checker.typeToString(arg))
      .join(',');
    const base = `${this.mode}:${qualified}${args ? `<${args}>` : ''}`.replace(/[^A-Za-z0-9_.:<>,-]/g, '_');
    let name = base;
    for (let n = 2; this.taken.has(name); n++) name = `${base}~${n}`;
    this.taken.add(name);
    return name;
  }

  private shape(type: ts.Type): JsonSchema {
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const property of this.checker.getPropertiesOfType(type)) {
      const propertyType = this.checker.getTypeOfSymbol(property);
      if (this.checker.getSignaturesOfType(propertyType, ts.SignatureKind.Call).length > 0) continue;
      properties[property.name] = this.convert(propertyType);
      if (!(property.flags & ts.SymbolFlags.Optional)) required.push(property.name);
    }
    const index = this.checker
      .getIndexInfosOfType(type)
      .find((info) => info.keyType.flags & (ts.TypeFlags.String | ts.TypeFlags.Number));
    const schema: JsonSchema = { type: 'object', properties };
    if (required.length > 0) schema.required = required;
    schema.additionalProperties = index ? this.convert(index.type) : false;
    return schema;
  }
}
