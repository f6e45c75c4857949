/**
 * The one schema for `portico.dev/v1alpha1` `Route` and `Backend`. The file loader, the admin API,
 * the controller and the CRDs in `crds/` all derive from these TypeBox values, so a field added here
 * is validated, defaulted and published to Kubernetes in one step.
 *
 * Shapes follow Gateway API's HTTPRoute wherever it has an answer, so users meet no surprises and an
 * HTTPRoute translation can come later. Rules that a single-field schema cannot express (one of two
 * fields, cross-field constraints) are written as CEL `x-kubernetes-validations`, so `kubectl apply`
 * rejects them early; `validate.ts` enforces the same rules for sources without an API server.
 */
import { Type, type Static, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';

export const API_GROUP = 'portico.dev';
export const API_VERSION = 'portico.dev/v1alpha1';

/** CEL rule attached to a schema node; Kubernetes evaluates it at admission. */
interface CelRule {
  rule: string;
  message: string;
}

function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

/** A string enum kept as a union of literals so `Static<>` yields the literal union type. */
function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { default?: T[number] } = {},
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  );
}

/** Gateway API's Duration: up to four `<number><unit>` groups, e.g. `1h30m`, `500ms`, `0s`. */
export const DURATION_PATTERN = '^([0-9]{1,5}(h|m|s|ms)){1,4}$';
const DURATION_DESCRIPTION = 'a Gateway API duration such as 10s, 500ms or 1m30s';
const durationOptions = { pattern: DURATION_PATTERN, maxLength: 24, description: DURATION_DESCRIPTION };
const Duration = Type.String(durationOptions);

/** Gateway API's Hostname: lowercase DNS name, optionally prefixed by one `*.` wildcard label. */
export const HOSTNAME_PATTERN = String.raw`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`;
const Hostname = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: HOSTNAME_PATTERN,
  description: "a lower-case DNS name, optionally prefixed by a '*.' wildcard label",
});
const PreciseHostname = Type.String({
  description: 'a lower-case DNS name',
  minLength: 1,
  maxLength: 253,
  pattern: String.raw`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`,
});

/** An RFC 9110 token: what header names and cookie names (RFC 6265) are made of. */
const TOKEN_PATTERN = "^[A-Za-z0-9!#$%&'*+\\-.^_`|~]+$";

/** RFC 7230 token, as Gateway API's HTTPHeaderName. */
const HeaderName = Type.String({
  minLength: 1,
  maxLength: 256,
  pattern: TOKEN_PATTERN,
  description: 'an HTTP header name (RFC 7230 token)',
});
const HeaderValue = Type.String({ minLength: 1, maxLength: 4096 });
const ObjectName = Type.String({
  description: 'a Kubernetes object name (lower-case DNS subdomain)',
  minLength: 1,
  maxLength: 253,
  pattern: String.raw`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`,
});
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const SecretRef = Type.Object({ name: ObjectName }, { additionalProperties: false });

// ---------------------------------------------------------------------------------------------
// Route
// ---------------------------------------------------------------------------------------------

export const PATH_MATCH_TYPES = ['Exact', 'PathPrefix', 'RegularExpression'] as const;
export const PathMatch = Type.Object(
  {
    type: StringEnum(PATH_MATCH_TYPES, { default: 'PathPrefix' }),
    value: Type.String({ maxLength: 1024, default: '/' }),
  },
  {
    additionalProperties: false,
    ...cel(
      {
        rule: "(self.type in ['Exact','PathPrefix']) ? self.value.startsWith('/') : true",
        message: "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
      },
      {
        rule: "(self.type in ['Exact','PathPrefix']) ? !self.value.contains('//') : true",
        message: "must not contain '//' when type one of ['Exact', 'PathPrefix']",
      },
    ),
  },
);

const VALUE_MATCH_TYPES = ['Exact', 'RegularExpression'] as const;
export const HeaderMatch = Type.Object(
  { type: StringEnum(VALUE_MATCH_TYPES, { default: 'Exact' }), name: HeaderName, value: HeaderValue },
  { additionalProperties: false },
);
export const QueryParamMatch = Type.Object(
  {
    type: StringEnum(VALUE_MATCH_TYPES, { default: 'Exact' }),
    name: Type.String({ minLength: 1, maxLength: 256 }),
    value: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const HTTP_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
] as const;

export const RouteMatch = Type.Object(
  {
    path: Type.Optional(PathMatch),
    headers: Type.Optional(
      Type.Array(HeaderMatch, {
        maxItems: 16,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    ),
    queryParams: Type.Optional(
      Type.Array(QueryParamMatch, {
        maxItems: 16,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    ),
    method: Type.Optional(StringEnum(HTTP_METHODS)),
  },
  { additionalProperties: false },
);

const HeaderEntry = Type.Object(
  { name: HeaderName, value: Type.String({ maxLength: 4096 }) },
  { additionalProperties: false },
);
export const HeaderModifier = Type.Object(
  {
    set: Type.Optional(Type.Array(HeaderEntry, { maxItems: 16 })),
    add: Type.Optional(Type.Array(HeaderEntry, { maxItems: 16 })),
    remove: Type.Optional(Type.Array(HeaderName, { maxItems: 16 })),
  },
  { additionalProperties: false },
);

export const PathModifier = Type.Object(
  {
    type: StringEnum(['ReplaceFullPath', 'ReplacePrefixMatch'] as const),
    replaceFullPath: Type.Optional(Type.String({ maxLength: 1024 })),
    replacePrefixMatch: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  {
    additionalProperties: false,
    ...cel(
      {
        rule: "self.type == 'ReplaceFullPath' ? has(self.replaceFullPath) && !has(self.replacePrefixMatch) : true",
        message:
          'replaceFullPath must be specified (and replacePrefixMatch must not) when type is ReplaceFullPath',
      },
      {
        rule: "self.type == 'ReplacePrefixMatch' ? has(self.replacePrefixMatch) && !has(self.replaceFullPath) : true",
        message:
          'replacePrefixMatch must be specified (and replaceFullPath must not) when type is ReplacePrefixMatch',
      },
    ),
  },
);

export const REDIRECT_STATUS_CODES = [301, 302, 303, 307, 308] as const;
export const RequestRedirect = Type.Object(
  {
    scheme: Type.Optional(StringEnum(['http', 'https'] as const)),
    hostname: Type.Optional(PreciseHostname),
    port: Type.Optional(Port),
    path: Type.Optional(PathModifier),
    statusCode: Type.Union(
      REDIRECT_STATUS_CODES.map((c) => Type.Literal(c)),
      { default: 302 },
    ),
  },
  { additionalProperties: false },
);

export const URLRewrite = Type.Object(
  { hostname: Type.Optional(PreciseHostname), path: Type.Optional(PathModifier) },
  { additionalProperties: false },
);

export const FILTER_TYPES = [
  'RequestHeaderModifier',
  'ResponseHeaderModifier',
  'RequestRedirect',
  'URLRewrite',
] as const;
/** The config field each filter type must carry, as in Gateway API's HTTPRouteFilter. */
export const FILTER_FIELDS = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
} as const;

export const RouteFilter = Type.Object(
  {
    type: StringEnum(FILTER_TYPES),
    requestHeaderModifier: Type.Optional(HeaderModifier),
    responseHeaderModifier: Type.Optional(HeaderModifier),
    requestRedirect: Type.Optional(RequestRedirect),
    urlRewrite: Type.Optional(URLRewrite),
  },
  {
    additionalProperties: false,
    ...cel(
      ...Object.entries(FILTER_FIELDS).map(([type, field]) => ({
        rule: `has(self.${field}) == (self.type == '${type}')`,
        message: `${field} must be specified for ${type} filter.type, and only then`,
      })),
    ),
  },
);

export const BackendRef = Type.Object(
  {
    name: ObjectName,
    weight: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 1 }),
    port: Type.Optional(Port),
  },
  { additionalProperties: false },
);

export const RouteTimeouts = Type.Object(
  { request: Type.Optional(Duration), backendRequest: Type.Optional(Duration) },
  {
    additionalProperties: false,
    ...cel({
      rule: "!(has(self.request) && has(self.backendRequest) && duration(self.request) != duration('0s') && duration(self.backendRequest) > duration(self.request))",
      message: 'backendRequest timeout cannot be longer than request timeout',
    }),
  },
);

export const RouteCache = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    maxObjectBytes: Type.Optional(Type.Integer({ minimum: 1 })),
    defaultTtl: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const RETRY_ON = ['connect-failure', 'reset', '502', '503', '504'] as const;

/**
 * Per-rule retries of failed upstream attempts, each on another endpoint, within a per-worker retry
 * budget. Absent: `{ attempts: 2, retryOn: [connect-failure, reset] }`. A listed status (502, 503,
 * 504) throws that response away and asks another endpoint (only for requests without a body).
 */
export const RouteRetry = Type.Object(
  {
    attempts: Type.Integer({
      minimum: 1,
      maximum: 3,
      default: 2,
      description: 'Most attempts per request, the first included; 1 disables retries.',
    }),
    retryOn: Type.Array(StringEnum(RETRY_ON), {
      maxItems: 5,
      default: ['connect-failure', 'reset'],
      description:
        'Failures to retry: connect-failure, reset (closed before any response byte), and the statuses 502, 503, 504 (the response is dropped and another endpoint asked).',
    }),
    allowNonIdempotent: Type.Boolean({
      default: false,
      description:
        'Also retry resets of non-idempotent methods (a connect failure is retried for every method).',
    }),
  },
  {
    additionalProperties: false,
    description:
      'Retries on another endpoint, within a per-worker retry budget (20% of active requests, at least 3).',
  },
);

export const RouteRule = Type.Object(
  {
    matches: Type.Optional(Type.Array(RouteMatch, { maxItems: 64 })),
    filters: Type.Optional(
      Type.Array(RouteFilter, {
        maxItems: 16,
        ...cel(
          {
            rule: "!(self.exists(f, f.type == 'RequestRedirect') && self.exists(f, f.type == 'URLRewrite'))",
            message: 'May specify either RequestRedirect or URLRewrite, but not both',
          },
          ...FILTER_TYPES.map((t) => ({
            rule: `self.filter(f, f.type == '${t}').size() <= 1`,
            message: `${t} filter cannot be repeated`,
          })),
        ),
      }),
    ),
    backendRefs: Type.Optional(Type.Array(BackendRef, { maxItems: 16 })),
    timeouts: Type.Optional(RouteTimeouts),
    cache: Type.Optional(RouteCache),
    retry: Type.Optional(RouteRetry),
  },
  { additionalProperties: false },
);

export const ClientValidation = Type.Object(
  {
    caSecretRef: Type.Optional(SecretRef),
    caFile: Type.Optional(Type.String({ minLength: 1 })),
    mode: StringEnum(['Require', 'Optional'] as const, { default: 'Require' }),
    forwardHeader: Type.Optional(HeaderName),
  },
  {
    additionalProperties: false,
    description:
      'Client certificates checked against a CA (downstream mTLS). Require: the TLS handshake fails ' +
      'without a trusted certificate. Optional: a certificate is asked for; requests presenting an ' +
      'untrusted one get 403, those without one pass. forwardHeader names a request header that carries ' +
      "a verified certificate's summary upstream (Envoy's x-forwarded-client-cert format).",
    ...cel({
      rule: 'has(self.caSecretRef) != has(self.caFile)',
      message: 'exactly one of caSecretRef or caFile must be set',
    }),
  },
);

export const CertificateFile = Type.Object(
  { certFile: Type.String({ minLength: 1 }), keyFile: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);

export const RouteTls = Type.Object(
  {
    certificateRefs: Type.Optional(Type.Array(SecretRef, { maxItems: 64 })),
    certificateFiles: Type.Optional(Type.Array(CertificateFile, { maxItems: 64 })),
    clientValidation: Type.Optional(ClientValidation),
  },
  {
    additionalProperties: false,
    description:
      "Certificates served for this Route's hostnames on TLS listeners, chosen by SNI: kubernetes.io/tls " +
      'Secrets (certificateRefs) or PEM files (certificateFiles, file mode). Several pairs (say ECDSA and ' +
      'RSA) may be given; the client gets the best it supports. A Route without hostnames provides the ' +
      'default certificate.',
    ...cel({
      rule: '(has(self.certificateRefs) && size(self.certificateRefs) > 0) || (has(self.certificateFiles) && size(self.certificateFiles) > 0)',
      message: 'give at least one certificate in certificateRefs or certificateFiles',
    }),
  },
);

export const RouteSpec = Type.Object(
  {
    hostnames: Type.Optional(Type.Array(Hostname, { maxItems: 16 })),
    tls: Type.Optional(RouteTls),
    rules: Type.Array(RouteRule, { minItems: 1, maxItems: 64 }),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------------------------
// Backend
// ---------------------------------------------------------------------------------------------

export const Endpoint = Type.Object(
  {
    address: Type.String({ minLength: 1, maxLength: 253 }),
    port: Port,
    weight: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 1 }),
  },
  { additionalProperties: false },
);

export const ServiceRef = Type.Object({ name: ObjectName, port: Port }, { additionalProperties: false });

export const BACKEND_PROTOCOLS = ['HTTP', 'HTTPS', 'H2C', 'H2'] as const;

export const BackendTls = Type.Object(
  {
    sni: Type.Optional(PreciseHostname),
    verify: Type.Boolean({ default: true }),
    caFile: Type.Optional(Type.String({ minLength: 1 })),
    caSecretRef: Type.Optional(SecretRef),
    clientCertFile: Type.Optional(Type.String({ minLength: 1 })),
    keyFile: Type.Optional(Type.String({ minLength: 1 })),
    clientCertSecretRef: Type.Optional(SecretRef),
  },
  {
    additionalProperties: false,
    ...cel(
      {
        rule: '!(has(self.caFile) && has(self.caSecretRef))',
        message: 'caFile and caSecretRef are mutually exclusive',
      },
      {
        rule: 'has(self.clientCertFile) == has(self.keyFile)',
        message: 'clientCertFile and keyFile must be set together',
      },
      {
        rule: '!(has(self.clientCertFile) && has(self.clientCertSecretRef))',
        message: 'clientCertFile and clientCertSecretRef are mutually exclusive',
      },
    ),
  },
);

export const LB_POLICIES = ['RoundRobin', 'Random', 'LeastRequest', 'ConsistentHash'] as const;
export const HashOn = Type.Object(
  {
    type: StringEnum(['Header', 'Cookie', 'QueryParameter', 'SourceIP', 'Path'] as const),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  {
    additionalProperties: false,
    ...cel({
      rule: "(self.type in ['Header', 'Cookie', 'QueryParameter']) == has(self.name)",
      message: 'name is required for Header, Cookie and QueryParameter hashing, and only for them',
    }),
  },
);

/**
 * Gateway API's SessionPersistence (GEP-1619), cookie type: the first response names its endpoint in
 * a cookie and later requests with it stay there while that endpoint is usable.
 */
export const SessionPersistence = Type.Object(
  {
    sessionName: Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: TOKEN_PATTERN,
      default: 'portico-session',
      description: 'the cookie name',
    }),
    type: StringEnum(['Cookie'] as const, { default: 'Cookie' }),
    absoluteTimeout: Type.Optional(
      Type.String({ ...durationOptions, description: `the cookie's Max-Age, ${DURATION_DESCRIPTION}` }),
    ),
    cookieConfig: Type.Optional(
      Type.Object(
        { lifetimeType: StringEnum(['Permanent', 'Session'] as const, { default: 'Session' }) },
        { additionalProperties: false },
      ),
    ),
  },
  {
    additionalProperties: false,
    ...cel({
      rule: "has(self.absoluteTimeout) == (has(self.cookieConfig) && self.cookieConfig.lifetimeType == 'Permanent')",
      message:
        'absoluteTimeout is required with cookieConfig.lifetimeType Permanent, and only with it (a Session cookie has no expiry)',
    }),
  },
);

export const LoadBalancer = Type.Object(
  {
    policy: StringEnum(LB_POLICIES, { default: 'RoundRobin' }),
    hashOn: Type.Optional(HashOn),
    sessionPersistence: Type.Optional(SessionPersistence),
  },
  {
    additionalProperties: false,
    default: { policy: 'RoundRobin' },
    ...cel({
      rule: "has(self.hashOn) == (self.policy == 'ConsistentHash')",
      message: 'hashOn is required with the ConsistentHash policy, and only with it',
    }),
  },
);

export const HealthCheck = Type.Object(
  {
    type: StringEnum(['HTTP', 'TCP'] as const, { default: 'HTTP' }),
    path: Type.Optional(Type.String({ pattern: '^/', maxLength: 1024 })),
    interval: Type.String({ ...durationOptions, default: '10s' }),
    timeout: Type.String({ ...durationOptions, default: '2s' }),
    healthyThreshold: Type.Integer({ minimum: 1, maximum: 100, default: 2 }),
    unhealthyThreshold: Type.Integer({ minimum: 1, maximum: 100, default: 3 }),
    expectedStatuses: Type.Optional(
      Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, maxItems: 64 }),
    ),
  },
  {
    additionalProperties: false,
    ...cel({
      rule: "self.type == 'HTTP' || (!has(self.path) && !has(self.expectedStatuses))",
      message: 'path and expectedStatuses apply to HTTP health checks only',
    }),
  },
);

/**
 * Passive health per worker (Envoy's outlier detection): an endpoint whose attempts fail this many
 * times in a row is ejected for `baseEjectionTime` × its recent ejections, at most `maxEjectionTime`.
 */
export const OutlierDetection = Type.Object(
  {
    consecutive5xx: Type.Integer({
      minimum: 1,
      maximum: 10000,
      default: 5,
      description: '5xx responses, resets, timeouts or connect failures in a row that eject',
    }),
    consecutiveConnectFailures: Type.Integer({
      minimum: 1,
      maximum: 10000,
      default: 3,
      description: 'refused or timed-out connects in a row that eject',
    }),
    baseEjectionTime: Type.String({ ...durationOptions, default: '30s' }),
    maxEjectionTime: Type.String({ ...durationOptions, default: '300s' }),
    maxEjectionPercent: Type.Integer({
      minimum: 0,
      maximum: 100,
      default: 50,
      description: "the most of the Backend's endpoints ejected at once; 0 turns ejection off",
    }),
  },
  {
    additionalProperties: false,
    ...cel(
      {
        rule: "duration(self.baseEjectionTime) > duration('0s')",
        message: 'baseEjectionTime must be longer than 0',
      },
      {
        rule: 'duration(self.maxEjectionTime) >= duration(self.baseEjectionTime)',
        message: 'maxEjectionTime cannot be shorter than baseEjectionTime',
      },
    ),
  },
);

/** Retries in flight to one Backend, per worker, at most max(minRetryConcurrency, percent % of its active requests). */
export const RetryBudget = Type.Object(
  {
    percent: Type.Integer({
      minimum: 0,
      maximum: 100,
      default: 20,
      description: "retries in flight per 100 of the Backend's active requests",
    }),
    minRetryConcurrency: Type.Integer({
      minimum: 0,
      maximum: 10000,
      default: 3,
      description: 'retries in flight always allowed, so a quiet Backend can still retry',
    }),
  },
  { additionalProperties: false },
);

export const BackendSpec = Type.Object(
  {
    endpoints: Type.Optional(Type.Array(Endpoint, { minItems: 1, maxItems: 1024 })),
    service: Type.Optional(ServiceRef),
    protocol: StringEnum(BACKEND_PROTOCOLS, { default: 'HTTP' }),
    tls: Type.Optional(BackendTls),
    loadBalancer: LoadBalancer,
    healthCheck: Type.Optional(HealthCheck),
    outlierDetection: Type.Optional(OutlierDetection),
    retryBudget: Type.Optional(RetryBudget),
  },
  {
    additionalProperties: false,
    ...cel({
      rule: 'has(self.endpoints) != has(self.service)',
      message: 'exactly one of endpoints or service must be set',
    }),
  },
);

// ---------------------------------------------------------------------------------------------
// Status and whole objects
// ---------------------------------------------------------------------------------------------

/** metav1.Condition, so `kubectl wait --for=condition=Accepted` works. */
export const Condition = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 316 }),
    status: StringEnum(['True', 'False', 'Unknown'] as const),
    reason: Type.String({
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: Type.String({ maxLength: 32768 }),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
    lastTransitionTime: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);

export const ObjectStatus = Type.Object(
  {
    conditions: Type.Optional(
      Type.Array(Condition, {
        maxItems: 8,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      }),
    ),
  },
  { additionalProperties: false },
);

export const ObjectMeta = Type.Object(
  {
    name: ObjectName,
    namespace: Type.Optional(
      Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }),
    ),
    creationTimestamp: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  // labels, annotations, uid… are Kubernetes' business; keep them untouched.
  { additionalProperties: true },
);

function resource<K extends string, S extends TSchema>(kind: K, spec: S) {
  return Type.Object({
    apiVersion: Type.Literal(API_VERSION),
    kind: Type.Literal(kind),
    metadata: ObjectMeta,
    spec,
    // Status is written by the controller, never read as input: it is not validated here.
    status: Type.Optional(Type.Unknown()),
  });
}

export const RouteSchema = resource('Route', RouteSpec);
export const BackendSchema = resource('Backend', BackendSpec);

export type PathMatch = Static<typeof PathMatch>;
export type HeaderMatch = Static<typeof HeaderMatch>;
export type QueryParamMatch = Static<typeof QueryParamMatch>;
export type RouteMatch = Static<typeof RouteMatch>;
export type HeaderModifier = Static<typeof HeaderModifier>;
export type PathModifier = Static<typeof PathModifier>;
export type RequestRedirect = Static<typeof RequestRedirect>;
export type URLRewrite = Static<typeof URLRewrite>;
export type RouteFilter = Static<typeof RouteFilter>;
export type BackendRef = Static<typeof BackendRef>;
export type RouteRule = Static<typeof RouteRule>;
export type RouteSpec = Static<typeof RouteSpec>;
export type BackendSpec = Static<typeof BackendSpec>;
export type Condition = Static<typeof Condition>;
export type ObjectStatus = Static<typeof ObjectStatus>;
export type Route = Static<typeof RouteSchema>;
export type Backend = Static<typeof BackendSchema>;
/** Any object this package understands. */
export type PorticoObject = Route | Backend;
