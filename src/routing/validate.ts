/**
 * Checks untrusted documents (parsed YAML, admin API bodies, watched objects) into typed Routes and
 * Backends. Each object is judged alone: a bad one is rejected with every problem found, each naming
 * the object and the field, and never affects the others (Contour's processors work the same way).
 *
 * The schema check mirrors what the API server does at `kubectl apply`; the semantic checks repeat
 * the CRD's CEL rules for sources without an API server, and add what neither can see: regexes that
 * do not compile in JavaScript, duplicate names, and refs to Backends that do not exist.
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { isIP } from 'node:net';
import type { FieldError } from '../errors.ts';
import { parseDuration } from './duration.ts';
import { compileFullMatch } from './match.ts';
import {
  API_VERSION,
  BackendSchema,
  DIGITS_AND_DOTS_PATTERN,
  DNS_NAME_PATTERN,
  ENDPOINT_ADDRESS_DESCRIPTION,
  FILTER_FIELDS,
  RouteSchema,
  type Backend,
  type BackendSpec,
  type HeaderMatch,
  type PathModifier,
  type PorticoObject,
  type QueryParamMatch,
  type Route,
  type RouteMatch,
  type RouteRule,
} from './schema.ts';

export interface RejectedObject {
  /** The document as given, so a caller can write status onto it or echo it back. */
  readonly object: unknown;
  /** Every problem found, not just the first. */
  readonly errors: readonly FieldError[];
}

export interface ValidationResult {
  /** Accepted objects, in input order, with schema defaults applied and `metadata.namespace` set. */
  readonly ok: readonly PorticoObject[];
  readonly routes: readonly Route[];
  readonly backends: readonly Backend[];
  readonly rejected: readonly RejectedObject[];
  /**
   * Backend refs of accepted Routes that name no accepted Backend (reason `BackendNotFound`). As in
   * Gateway API the Route stays Accepted with ResolvedRefs=False, and the share of traffic those
   * refs would have taken is answered with 500.
   */
  readonly unresolvedRefs: readonly FieldError[];
}

type Kind = 'Route' | 'Backend';

const checkers: { readonly [K in Kind]: TypeCheck<TSchema> } = {
  Route: TypeCompiler.Compile(RouteSchema),
  Backend: TypeCompiler.Compile(BackendSchema),
};
const schemas: { readonly [K in Kind]: TSchema } = { Route: RouteSchema, Backend: BackendSchema };

/** Reports problems found in one object at dotted field paths. */
type Report = (path: string, message: string, reason: string) => void;

interface Identity {
  readonly kind: Kind | undefined;
  readonly key: string;
  readonly label: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function identify(doc: unknown, index: number): Identity {
  const o = isRecord(doc) ? doc : {};
  const meta = isRecord(o['metadata']) ? o['metadata'] : {};
  const kind = o['kind'] === 'Route' || o['kind'] === 'Backend' ? o['kind'] : undefined;
  const rawKind = typeof o['kind'] === 'string' ? o['kind'] : 'object';
  const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : 'default';
  const name = typeof meta['name'] === 'string' ? meta['name'] : `<unnamed document ${index}>`;
  const key = `${namespace}/${name}`;
  return { kind, key, label: `${kind ?? rawKind} ${key}` };
}

/** `/spec/rules/0/matches` → `spec.rules[0].matches`. */
function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    out += /^[0-9]+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

function describe(e: ValueError): { message: string; reason: string } {
  if (e.value === undefined) return { message: 'required field is missing', reason: 'MissingField' };
  if (e.type === ValueErrorType.ObjectAdditionalProperties)
    return { message: 'unknown field', reason: 'UnknownField' };
  const options = e.schema['anyOf'] as { const?: unknown }[] | undefined;
  if (e.type === ValueErrorType.Union && options?.every((o) => o.const !== undefined)) {
    return {
      message: `must be one of: ${options.map((o) => String(o.const)).join(', ')}`,
      reason: 'InvalidField',
    };
  }
  if (e.type === ValueErrorType.Literal) {
    return { message: `must be ${JSON.stringify(e.schema['const'])}`, reason: 'InvalidField' };
  }
  const description = e.schema['description'];
  if (e.type === ValueErrorType.StringPattern && typeof description === 'string') {
    return { message: `${JSON.stringify(e.value)} is not ${description}`, reason: 'InvalidField' };
  }
  return { message: e.message, reason: 'InvalidField' };
}

function schemaErrors(kind: Kind, doc: unknown, report: Report): void {
  const seen = new Set<string>();
  for (const e of checkers[kind].Errors(doc)) {
    const path = pointerToPath(e.path);
    if (seen.has(path)) continue;
    seen.add(path);
    const { message, reason } = describe(e);
    report(path, message, reason);
  }
}

function checkRegex(pattern: string, path: string, report: Report): void {
  try {
    compileFullMatch(pattern);
  } catch (cause) {
    report(path, `invalid regular expression: ${(cause as Error).message}`, 'InvalidRegex');
  }
}

function checkValueMatches(
  list: readonly (HeaderMatch | QueryParamMatch)[] | undefined,
  path: string,
  caseInsensitive: boolean,
  report: Report,
): void {
  const names = new Set<string>();
  (list ?? []).forEach((m, i) => {
    const name = caseInsensitive ? m.name.toLowerCase() : m.name;
    if (names.has(name))
      report(`${path}[${i}].name`, `duplicate name ${JSON.stringify(m.name)}`, 'DuplicateField');
    names.add(name);
    if (m.type === 'RegularExpression') checkRegex(m.value, `${path}[${i}].value`, report);
  });
}

function checkMatch(m: RouteMatch, path: string, report: Report): void {
  const p = m.path;
  if (p !== undefined && p.type === 'RegularExpression') checkRegex(p.value, `${path}.path.value`, report);
  if (p !== undefined && p.type !== 'RegularExpression') {
    if (!p.value.startsWith('/')) {
      report(
        `${path}.path.value`,
        `must be an absolute path starting with '/' for ${p.type}`,
        'InvalidField',
      );
    }
    if (p.value.includes('//'))
      report(`${path}.path.value`, `must not contain '//' for ${p.type}`, 'InvalidField');
  }
  checkValueMatches(m.headers, `${path}.headers`, true, report);
  checkValueMatches(m.queryParams, `${path}.queryParams`, false, report);
}

function checkPathModifier(p: PathModifier, path: string, report: Report): void {
  const want = p.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
  const other = p.type === 'ReplaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
  if (p[want] === undefined) report(`${path}.${want}`, `required when type is ${p.type}`, 'MissingField');
  if (p[other] !== undefined)
    report(`${path}.${other}`, `not allowed when type is ${p.type}`, 'InvalidField');
  const value = p[want];
  if (value !== undefined && !value.startsWith('/'))
    report(`${path}.${want}`, "must start with '/'", 'InvalidField');
}

function filterPathModifiers(rule: RouteRule, path: string): { mod: PathModifier; path: string }[] {
  const out: { mod: PathModifier; path: string }[] = [];
  (rule.filters ?? []).forEach((f, i) => {
    if (f.requestRedirect?.path)
      out.push({ mod: f.requestRedirect.path, path: `${path}[${i}].requestRedirect.path` });
    if (f.urlRewrite?.path) out.push({ mod: f.urlRewrite.path, path: `${path}[${i}].urlRewrite.path` });
  });
  return out;
}

function checkFilters(rule: RouteRule, path: string, report: Report): void {
  const filters = rule.filters ?? [];
  const seen = new Set<string>();
  filters.forEach((f, i) => {
    for (const [type, field] of Object.entries(FILTER_FIELDS)) {
      const has = f[field] !== undefined;
      if (has && f.type !== type)
        report(`${path}[${i}].${field}`, `not allowed for filter type ${f.type}`, 'InvalidField');
      if (!has && f.type === type)
        report(`${path}[${i}].${field}`, `required for filter type ${type}`, 'MissingField');
    }
    if (seen.has(f.type)) report(`${path}[${i}].type`, `${f.type} filter cannot be repeated`, 'InvalidField');
    seen.add(f.type);
  });
  if (seen.has('RequestRedirect') && seen.has('URLRewrite')) {
    report(path, 'may specify either RequestRedirect or URLRewrite, but not both', 'InvalidField');
  }
  const matches = rule.matches ?? [];
  for (const { mod, path: modPath } of filterPathModifiers(rule, path)) {
    checkPathModifier(mod, modPath, report);
    if (
      mod.type === 'ReplacePrefixMatch' &&
      matches.some((m) => (m.path?.type ?? 'PathPrefix') !== 'PathPrefix')
    ) {
      report(
        `${modPath}.type`,
        'ReplacePrefixMatch requires every match of the rule to be a PathPrefix',
        'InvalidField',
      );
    }
  }
}

function checkDuration(text: string | undefined, path: string, report: Report): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined)
    report(
      path,
      `invalid duration ${JSON.stringify(text)}: units h, m, s, ms, each at most once, largest first`,
      'InvalidDuration',
    );
  return ms;
}

function checkRule(rule: RouteRule, path: string, report: Report): void {
  (rule.matches ?? []).forEach((m, j) => checkMatch(m, `${path}.matches[${j}]`, report));
  checkFilters(rule, `${path}.filters`, report);
  const request = checkDuration(rule.timeouts?.request, `${path}.timeouts.request`, report);
  const backend = checkDuration(rule.timeouts?.backendRequest, `${path}.timeouts.backendRequest`, report);
  if (request !== undefined && backend !== undefined && request !== 0 && backend > request) {
    report(`${path}.timeouts.backendRequest`, 'cannot be longer than the request timeout', 'InvalidField');
  }
  checkDuration(rule.cache?.defaultTtl, `${path}.cache.defaultTtl`, report);
}

function checkRouteTls(tls: NonNullable<Route['spec']['tls']>, report: Report): void {
  if ((tls.certificateRefs?.length ?? 0) + (tls.certificateFiles?.length ?? 0) === 0)
    report(
      'spec.tls',
      'give at least one certificate in certificateRefs or certificateFiles',
      'MissingField',
    );
  const validation = tls.clientValidation;
  if (
    validation !== undefined &&
    (validation.caFile === undefined) === (validation.caSecretRef === undefined)
  )
    report('spec.tls.clientValidation', 'exactly one of caSecretRef or caFile must be set', 'InvalidField');
}

function checkRoute(route: Route, report: Report): void {
  route.spec.rules.forEach((rule, i) => checkRule(rule, `spec.rules[${i}]`, report));
  if (route.spec.tls !== undefined) checkRouteTls(route.spec.tls, report);
}

function checkBackendTls(tls: NonNullable<BackendSpec['tls']>, report: Report): void {
  if (tls.caFile !== undefined && tls.caSecretRef !== undefined) {
    report('spec.tls.caSecretRef', 'caFile and caSecretRef are mutually exclusive', 'InvalidField');
  }
  if ((tls.clientCertFile === undefined) !== (tls.keyFile === undefined)) {
    report(
      tls.keyFile === undefined ? 'spec.tls.keyFile' : 'spec.tls.clientCertFile',
      'clientCertFile and keyFile must be set together',
      'MissingField',
    );
  }
  if (tls.clientCertFile !== undefined && tls.clientCertSecretRef !== undefined) {
    report(
      'spec.tls.clientCertSecretRef',
      'clientCertFile and clientCertSecretRef are mutually exclusive',
      'InvalidField',
    );
  }
}

const DNS_NAME = new RegExp(DNS_NAME_PATTERN);
const DIGITS_AND_DOTS = new RegExp(DIGITS_AND_DOTS_PATTERN);

/** The CRD's CEL rule on `address`, for sources without an API server (and CRDs older than it). */
function isEndpointAddress(address: string): boolean {
  return isIP(address) !== 0 || (DNS_NAME.test(address) && !DIGITS_AND_DOTS.test(address));
}

function checkBackend(backend: Backend, report: Report): void {
  const spec = backend.spec;
  if ((spec.endpoints === undefined) === (spec.service === undefined)) {
    report('spec', 'exactly one of endpoints or service must be set', 'InvalidField');
  }
  spec.endpoints?.forEach(({ address }, i) => {
    if (!isEndpointAddress(address))
      report(
        `spec.endpoints[${i}].address`,
        `${JSON.stringify(address)} is not ${ENDPOINT_ADDRESS_DESCRIPTION}`,
        'InvalidField',
      );
  });
  if (spec.tls !== undefined) checkBackendTls(spec.tls, report);
  const lb = spec.loadBalancer;
  if ((lb.hashOn !== undefined) !== (lb.policy === 'ConsistentHash')) {
    report(
      'spec.loadBalancer.hashOn',
      'required with the ConsistentHash policy, and only with it',
      'InvalidField',
    );
  }
  if (
    lb.hashOn !== undefined &&
    (lb.hashOn.type === 'Header' || lb.hashOn.type === 'Cookie' || lb.hashOn.type === 'QueryParameter') !==
      (lb.hashOn.name !== undefined)
  ) {
    report(
      'spec.loadBalancer.hashOn.name',
      'required for Header, Cookie and QueryParameter hashing, and only for them',
      'InvalidField',
    );
  }
  if (lb.sessionPersistence !== undefined) checkSessionPersistence(lb.sessionPersistence, report);
  if (spec.outlierDetection !== undefined) checkOutlierDetection(spec.outlierDetection, report);
  const hc = spec.healthCheck;
  if (hc === undefined) return;
  checkDuration(hc.interval, 'spec.healthCheck.interval', report);
  checkDuration(hc.timeout, 'spec.healthCheck.timeout', report);
  if (hc.type === 'TCP' && (hc.path !== undefined || hc.expectedStatuses !== undefined)) {
    report('spec.healthCheck', 'path and expectedStatuses apply to HTTP health checks only', 'InvalidField');
  }
}

function checkOutlierDetection(
  outlier: NonNullable<Backend['spec']['outlierDetection']>,
  report: Report,
): void {
  const base = checkDuration(outlier.baseEjectionTime, 'spec.outlierDetection.baseEjectionTime', report);
  const max = checkDuration(outlier.maxEjectionTime, 'spec.outlierDetection.maxEjectionTime', report);
  if (base === 0)
    report(
      'spec.outlierDetection.baseEjectionTime',
      'baseEjectionTime must be longer than 0',
      'InvalidField',
    );
  if (base !== undefined && max !== undefined && max < base)
    report(
      'spec.outlierDetection.maxEjectionTime',
      'maxEjectionTime cannot be shorter than baseEjectionTime',
      'InvalidField',
    );
}

function checkSessionPersistence(
  persistence: NonNullable<Backend['spec']['loadBalancer']['sessionPersistence']>,
  report: Report,
): void {
  const path = 'spec.loadBalancer.sessionPersistence';
  const permanent = persistence.cookieConfig?.lifetimeType === 'Permanent';
  if ((persistence.absoluteTimeout !== undefined) !== permanent) {
    report(
      `${path}.absoluteTimeout`,
      'required with cookieConfig.lifetimeType Permanent, and only with it (a Session cookie has no expiry)',
      'InvalidField',
    );
  }
  const timeout = checkDuration(persistence.absoluteTimeout, `${path}.absoluteTimeout`, report);
  if (timeout !== undefined && timeout < 1000)
    report(`${path}.absoluteTimeout`, 'must be at least 1s (a cookie Max-Age is in seconds)', 'InvalidField');
}

interface Memo {
  readonly result: PorticoObject | undefined;
  readonly problems: readonly (readonly [path: string, message: string, reason: string])[];
}

/**
 * Results per input document. Inputs are never mutated and a watch hands over a new object for every
 * change, so an unchanged object is not validated again: with 10,000 Routes, one edit re-validates
 * one Route instead of all of them.
 */
const memo = new WeakMap<object, Memo>();

/** {@link validateDocument}, remembered per document object. */
function validateOne(kind: Kind, doc: unknown, report: Report): PorticoObject | undefined {
  const known = memo.get(doc as object);
  if (known !== undefined) {
    for (const [path, message, reason] of known.problems) report(path, message, reason);
    return known.result;
  }
  const problems: [string, string, string][] = [];
  const result = validateDocument(kind, doc, (path, message, reason) => {
    problems.push([path, message, reason]);
    report(path, message, reason);
  });
  // When defaults change nothing (the API server has already applied the CRD's), the document itself is
  // the result rather than an equal copy, so 10,000 Routes are not held twice. It is not frozen: it
  // belongs to the caller, and nothing downstream writes to validated objects.
  const kept = result !== undefined && Value.Equal(result, doc) ? doc : result && Object.freeze(result);
  memo.set(doc as object, { result: kept, problems });
  return kept;
}

/** Schema check, defaults, then semantic checks; returns the typed object or nothing. */
function validateDocument(kind: Kind, doc: unknown, report: Report): PorticoObject | undefined {
  const found = { errors: 0 };
  const counting: Report = (path, message, reason) => {
    found.errors += 1;
    report(path, message, reason);
  };
  const copy = Value.Default(schemas[kind], Value.Clone(doc)) as PorticoObject;
  schemaErrors(kind, copy, counting);
  if (found.errors > 0) return undefined;
  copy.metadata.namespace ??= 'default';
  if (copy.kind === 'Route') checkRoute(copy, counting);
  else checkBackend(copy, counting);
  return found.errors > 0 ? undefined : copy;
}

function checkRefs(routes: readonly Route[], backends: readonly Backend[]): FieldError[] {
  const known = new Set(backends.map((b) => `${b.metadata.namespace}/${b.metadata.name}`));
  const errors: FieldError[] = [];
  for (const route of routes) {
    const ns = route.metadata.namespace ?? 'default';
    route.spec.rules.forEach((rule, i) =>
      (rule.backendRefs ?? []).forEach((ref, j) => {
        if (known.has(`${ns}/${ref.name}`)) return;
        errors.push({
          object: `Route ${ns}/${route.metadata.name}`,
          path: `spec.rules[${i}].backendRefs[${j}].name`,
          message: `Backend ${ns}/${ref.name} not found`,
          reason: 'BackendNotFound',
        });
      }),
    );
  }
  return errors;
}

/**
 * Validates a snapshot's documents. Defaults from the schema are applied to accepted objects, so the
 * compiler never re-derives them. A later object with the same kind, namespace and name as an earlier
 * one is rejected (`DuplicateName`); the earlier one is kept.
 */
export function validateObjects(docs: readonly unknown[]): ValidationResult {
  const ok: PorticoObject[] = [];
  const rejected: RejectedObject[] = [];
  const seen = new Set<string>();
  docs.forEach((doc, index) => {
    const id = identify(doc, index);
    const errors: FieldError[] = [];
    const report: Report = (path, message, reason) =>
      errors.push({ object: id.label, path, message, reason });
    const accepted = check(doc, id, seen, report);
    if (accepted === undefined) rejected.push({ object: doc, errors });
    else ok.push(accepted);
  });
  const routes = ok.filter((o): o is Route => o.kind === 'Route');
  const backends = ok.filter((o): o is Backend => o.kind === 'Backend');
  return { ok, routes, backends, rejected, unresolvedRefs: checkRefs(routes, backends) };
}

function check(doc: unknown, id: Identity, seen: Set<string>, report: Report): PorticoObject | undefined {
  if (!isRecord(doc) || doc['apiVersion'] !== API_VERSION || id.kind === undefined) {
    report('kind', `expected apiVersion ${API_VERSION} and kind Route or Backend`, 'UnsupportedKind');
    return undefined;
  }
  const key = `${id.kind} ${id.key}`;
  if (seen.has(key)) {
    report('metadata.name', `duplicate ${id.kind} ${id.key}; the first one is kept`, 'DuplicateName');
    return undefined;
  }
  seen.add(key);
  return validateOne(id.kind, doc, report);
}
