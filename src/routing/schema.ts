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
import { CloneType, Type, type Static, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';

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

/**
 * `schema` with the description `kubectl explain` shows for the field it is used as: shared shapes
 * (a header modifier, a path modifier, a Secret reference) mean something different in each place.
 */
function described<T extends TSchema>(schema: T, description: string): T {
  // CloneType lets the schema's own options win over those given; this description must win.
  const copy = CloneType(schema);
  copy.description = description;
  return copy;
}

/** A string enum kept as a union of literals so `Static<>` yields the literal union type. */
function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { default?: T[number]; description?: string } = {},
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
/** A duration field: `description` says what it bounds; the format follows. */
function duration(description: string, defaultValue?: string): ReturnType<typeof Type.String> {
  return Type.String({
    ...durationOptions,
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
    description: `${description}, ${DURATION_DESCRIPTION}.`,
  });
}

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
const HeaderValue = Type.String({ minLength: 1, maxLength: 4096, description: 'the value to match' });
const ObjectName = Type.String({
  description: 'a Kubernetes object name (lower-case DNS subdomain)',
  minLength: 1,
  maxLength: 253,
  pattern: String.raw`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`,
});
const Port = Type.Integer({ minimum: 1, maximum: 65535, description: 'a TCP port, 1-65535' });
const SecretRef = Type.Object({ name: ObjectName }, { additionalProperties: false });

// ---------------------------------------------------------------------------------------------
// Route
// ---------------------------------------------------------------------------------------------

export const PATH_MATCH_TYPES = ['Exact', 'PathPrefix', 'RegularExpression'] as const;
export const PathMatch = Type.Object(
  {
    type: StringEnum(PATH_MATCH_TYPES, {
      default: 'PathPrefix',
      description:
        'Exact: the whole path; PathPrefix: whole leading segments (/a matches /a and /a/b, not /ab); ' +
        'RegularExpression: the whole path against an ECMAScript pattern, linear-time checked.',
    }),
    value: Type.String({ maxLength: 1024, default: '/', description: 'The path, or the pattern.' }),
  },
  {
    additionalProperties: false,
    description: 'Which request paths match; absent: every path (PathPrefix /).',
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
const valueMatchType = StringEnum(VALUE_MATCH_TYPES, {
  default: 'Exact',
  description: 'Exact: the whole value; RegularExpression: the whole value against an ECMAScript pattern.',
});
export const HeaderMatch = Type.Object(
  {
    type: valueMatchType,
    name: described(HeaderName, 'The header name, case-insensitive (RFC 7230 token).'),
    value: HeaderValue,
  },
  { additionalProperties: false },
);
export const QueryParamMatch = Type.Object(
  {
    type: valueMatchType,
    name: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'The query parameter name, case-sensitive; the first occurrence counts.',
    }),
    value: Type.String({ minLength: 1, maxLength: 1024, description: 'the value to match' }),
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
        description: 'Request headers that must all match; more header matches take precedence.',
        maxItems: 16,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    ),
    queryParams: Type.Optional(
      Type.Array(QueryParamMatch, {
        description: 'Query parameters that must all match; more take precedence.',
        maxItems: 16,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
      }),
    ),
    method: Type.Optional(
      StringEnum(HTTP_METHODS, { description: 'The request method to match; absent: any method.' }),
    ),
  },
  { additionalProperties: false },
);

const HeaderEntry = Type.Object(
  { name: HeaderName, value: Type.String({ maxLength: 4096, description: 'the header value' }) },
  { additionalProperties: false },
);
export const HeaderModifier = Type.Object(
  {
    set: Type.Optional(
      Type.Array(HeaderEntry, { maxItems: 16, description: 'Headers to set, replacing any of that name.' }),
    ),
    add: Type.Optional(
      Type.Array(HeaderEntry, { maxItems: 16, description: 'Headers to append to those already present.' }),
    ),
    remove: Type.Optional(
      Type.Array(HeaderName, { maxItems: 16, description: 'Header names to remove, case-insensitive.' }),
    ),
  },
  { additionalProperties: false },
);

export const PathModifier = Type.Object(
  {
    type: StringEnum(['ReplaceFullPath', 'ReplacePrefixMatch'] as const, {
      description: 'ReplaceFullPath: the whole path; ReplacePrefixMatch: the matched PathPrefix only.',
    }),
    replaceFullPath: Type.Optional(
      Type.String({ maxLength: 1024, description: 'The new path, with type ReplaceFullPath.' }),
    ),
    replacePrefixMatch: Type.Optional(
      Type.String({
        maxLength: 1024,
        description: 'What replaces the matched prefix, with type ReplacePrefixMatch.',
      }),
    ),
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
    scheme: Type.Optional(
      StringEnum(['http', 'https'] as const, {
        description: "The Location's scheme; absent: the request's.",
      }),
    ),
    hostname: Type.Optional(described(PreciseHostname, "The Location's host; absent: the request's.")),
    port: Type.Optional(
      described(Port, "The Location's port; absent: the scheme's default, or the request's port."),
    ),
    path: Type.Optional(described(PathModifier, "How the Location's path is made from the request's.")),
    statusCode: Type.Union(
      REDIRECT_STATUS_CODES.map((c) => Type.Literal(c)),
      { default: 302, description: 'The redirect status: 301, 302, 303, 307 or 308.' },
    ),
  },
  { additionalProperties: false },
);

export const URLRewrite = Type.Object(
  {
    hostname: Type.Optional(described(PreciseHostname, "The Host sent upstream instead of the request's.")),
    path: Type.Optional(described(PathModifier, "How the path sent upstream is made from the request's.")),
  },
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
    type: StringEnum(FILTER_TYPES, {
      description: 'Which filter; the field of the same name (lower camel case) carries its settings.',
    }),
    requestHeaderModifier: Type.Optional(
      described(HeaderModifier, 'Headers changed on the request before it goes upstream.'),
    ),
    responseHeaderModifier: Type.Optional(
      described(HeaderModifier, 'Headers changed on the response before it goes to the client.'),
    ),
    requestRedirect: Type.Optional(
      described(RequestRedirect, 'Answers with a redirect instead of proxying (no backendRefs needed).'),
    ),
    urlRewrite: Type.Optional(described(URLRewrite, 'Rewrites the Host and path sent upstream.')),
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
    name: described(ObjectName, "A Backend in the Route's namespace."),
    weight: Type.Integer({
      minimum: 0,
      maximum: 1_000_000,
      default: 1,
      description: "This ref's share of the rule's requests, relative to the other refs; 0 sends none.",
    }),
    port: Type.Optional(described(Port, "Overrides the port of the Backend's endpoints.")),
  },
  { additionalProperties: false },
);

export const RouteTimeouts = Type.Object(
  {
    request: Type.Optional(duration('The whole request, retries included; 0s: none')),
    backendRequest: Type.Optional(duration('Each attempt upstream; 0s: none')),
  },
  {
    additionalProperties: false,
    description: 'Timeouts (Gateway API HTTPRouteTimeouts); a timeout answers 504.',
    ...cel({
      rule: "!(has(self.request) && has(self.backendRequest) && duration(self.request) != duration('0s') && duration(self.backendRequest) > duration(self.request))",
      message: 'backendRequest timeout cannot be longer than request timeout',
    }),
  },
);

export const RouteCache = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Whether responses of this rule are cached.' }),
    maxObjectBytes: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Larger responses are not stored.' }),
    ),
    defaultTtl: Type.Optional(duration('Freshness of a cacheable response without explicit expiry')),
  },
  { additionalProperties: false, description: "HTTP caching (RFC 9111) of this rule's responses." },
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
    matches: Type.Optional(
      Type.Array(RouteMatch, {
        maxItems: 64,
        description:
          'The rule applies when any one match holds; absent: every request. Precedence across Routes ' +
          'follows Gateway API: the most specific hostname first, then Exact path, regex, longest prefix, ' +
          'method, most headers, most query parameters, oldest Route, namespace/name.',
      }),
    ),
    filters: Type.Optional(
      Type.Array(RouteFilter, {
        maxItems: 16,
        description: 'Processing applied to matching requests and their responses, in order.',
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
    backendRefs: Type.Optional(
      Type.Array(BackendRef, {
        maxItems: 16,
        description:
          'Backends that serve the rule, split by weight. A ref to a missing Backend makes its share ' +
          'answer 500 and sets ResolvedRefs=False.',
      }),
    ),
    timeouts: Type.Optional(RouteTimeouts),
    cache: Type.Optional(RouteCache),
    retry: Type.Optional(RouteRetry),
  },
  { additionalProperties: false },
);

export const ClientValidation = Type.Object(
  {
    caSecretRef: Type.Optional(
      described(SecretRef, "A Secret in the Route's namespace whose ca.crt (or tls.crt) holds the CA."),
    ),
    caFile: Type.Optional(
      Type.String({ minLength: 1, description: 'A PEM CA bundle on disk (file mode only).' }),
    ),
    mode: StringEnum(['Require', 'Optional'] as const, {
      default: 'Require',
      description: 'Require: no handshake without a trusted certificate; Optional: untrusted ones get 403.',
    }),
    forwardHeader: Type.Optional(
      described(HeaderName, "A request header that carries a verified certificate's summary upstream."),
    ),
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
  {
    certFile: Type.String({ minLength: 1, description: 'Path of the PEM certificate chain.' }),
    keyFile: Type.String({ minLength: 1, description: 'Path of the PEM private key.' }),
  },
  { additionalProperties: false },
);

export const RouteTls = Type.Object(
  {
    certificateRefs: Type.Optional(
      Type.Array(SecretRef, {
        maxItems: 64,
        description: "kubernetes.io/tls Secrets in the Route's namespace (tls.crt, tls.key).",
      }),
    ),
    certificateFiles: Type.Optional(
      Type.Array(CertificateFile, {
        maxItems: 64,
        description: 'PEM certificate and key files (file mode).',
      }),
    ),
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
    hostnames: Type.Optional(
      Type.Array(Hostname, {
        maxItems: 16,
        description:
          'Hosts this Route serves (exact, or *. wildcards); absent: every host, after the Routes that ' +
          'name the host. Two Routes with the same hostname and match: the oldest wins, then namespace/name.',
      }),
    ),
    tls: Type.Optional(RouteTls),
    rules: Type.Array(RouteRule, {
      minItems: 1,
      maxItems: 64,
      description: 'Match conditions and what to do with matching requests; earlier rules win ties.',
    }),
  },
  { additionalProperties: false, description: 'Which requests this Route takes and where they go.' },
);

// ---------------------------------------------------------------------------------------------
// Backend
// ---------------------------------------------------------------------------------------------

/**
 * An RFC 1123 DNS name in lower case: labels of at most 63 characters (the whole name at most 253,
 * which `maxLength` says). A name of digits and dots alone is no name but a malformed IPv4 address.
 */
export const DNS_NAME_PATTERN = String.raw`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$`;
export const DIGITS_AND_DOTS_PATTERN = '^[0-9.]+$';
export const ENDPOINT_ADDRESS_DESCRIPTION =
  'an IPv4 address, an IPv6 address or a lower-case DNS name (RFC 1123)';

export const Endpoint = Type.Object(
  {
    address: Type.String({
      maxLength: 253,
      description: `Where to connect: ${ENDPOINT_ADDRESS_DESCRIPTION}, without a port or brackets. A DNS name is resolved by the primary and re-resolved within its TTL.`,
      ...cel({
        rule: `isIP(self) || (self.matches('${DNS_NAME_PATTERN.replaceAll('\\', '\\\\')}') && !self.matches('${DIGITS_AND_DOTS_PATTERN}'))`,
        message: `must be ${ENDPOINT_ADDRESS_DESCRIPTION}`,
      }),
    }),
    port: Port,
    weight: Type.Integer({
      minimum: 0,
      maximum: 1_000_000,
      default: 1,
      description: 'Relative share of requests for the weighted policies; 0 sends none.',
    }),
  },
  { additionalProperties: false },
);

export const ServiceRef = Type.Object(
  {
    name: described(ObjectName, "A Service in the Backend's namespace, read through its EndpointSlices."),
    port: described(Port, "The slice port of this number (else the slice's only port)."),
  },
  { additionalProperties: false },
);

export const BACKEND_PROTOCOLS = ['HTTP', 'HTTPS', 'H2C', 'H2'] as const;

export const BackendTls = Type.Object(
  {
    sni: Type.Optional(
      described(PreciseHostname, 'The server name sent and verified; absent: the endpoint address.'),
    ),
    verify: Type.Boolean({
      default: true,
      description: "Verify the upstream's certificate chain and name; false accepts any.",
    }),
    caFile: Type.Optional(
      Type.String({ minLength: 1, description: 'A PEM CA bundle to verify with (file mode).' }),
    ),
    caSecretRef: Type.Optional(
      described(SecretRef, "A Secret in the Backend's namespace whose ca.crt (or tls.crt) is the CA."),
    ),
    clientCertFile: Type.Optional(
      Type.String({ minLength: 1, description: 'A PEM client certificate for mTLS upstream (file mode).' }),
    ),
    keyFile: Type.Optional(
      Type.String({ minLength: 1, description: "The client certificate's PEM private key (file mode)." }),
    ),
    clientCertSecretRef: Type.Optional(
      described(SecretRef, 'A kubernetes.io/tls Secret with the client certificate for mTLS upstream.'),
    ),
  },
  {
    additionalProperties: false,
    description: 'TLS to the upstream, with protocol HTTPS or H2.',
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
    type: StringEnum(['Header', 'Cookie', 'QueryParameter', 'SourceIP', 'Path'] as const, {
      description: 'What the hash key is taken from.',
    }),
    name: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: 'The header, cookie or query parameter name.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'The hash key of the ConsistentHash policy (ketama ring).',
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
    type: StringEnum(['Cookie'] as const, { default: 'Cookie', description: 'Cookie, the only type.' }),
    absoluteTimeout: Type.Optional(duration("The cookie's Max-Age")),
    cookieConfig: Type.Optional(
      Type.Object(
        {
          lifetimeType: StringEnum(['Permanent', 'Session'] as const, {
            default: 'Session',
            description:
              'Session: the cookie ends with the browser session; Permanent: after absoluteTimeout.',
          }),
        },
        { additionalProperties: false, description: 'How long the cookie lives.' },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'Keeps a client on one endpoint with a cookie (Gateway API GEP-1619).',
    ...cel({
      rule: "has(self.absoluteTimeout) == (has(self.cookieConfig) && self.cookieConfig.lifetimeType == 'Permanent')",
      message:
        'absoluteTimeout is required with cookieConfig.lifetimeType Permanent, and only with it (a Session cookie has no expiry)',
    }),
  },
);

export const LoadBalancer = Type.Object(
  {
    policy: StringEnum(LB_POLICIES, {
      default: 'RoundRobin',
      description: 'RoundRobin, Random, LeastRequest (power of two choices) or ConsistentHash (hashOn).',
    }),
    hashOn: Type.Optional(HashOn),
    sessionPersistence: Type.Optional(SessionPersistence),
  },
  {
    additionalProperties: false,
    default: { policy: 'RoundRobin' },
    description: 'How an endpoint is picked for each request.',
    ...cel({
      rule: "has(self.hashOn) == (self.policy == 'ConsistentHash')",
      message: 'hashOn is required with the ConsistentHash policy, and only with it',
    }),
  },
);

export const HealthCheck = Type.Object(
  {
    type: StringEnum(['HTTP', 'TCP'] as const, {
      default: 'HTTP',
      description: 'HTTP: a GET of path; TCP: a connection that opens.',
    }),
    path: Type.Optional(
      Type.String({
        pattern: '^/',
        maxLength: 1024,
        description: 'The path an HTTP check asks for (default /).',
      }),
    ),
    interval: duration('Time between checks of one endpoint', '10s'),
    timeout: duration('How long one check may take', '2s'),
    healthyThreshold: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 2,
      description: 'Passing checks in a row that make an endpoint healthy again.',
    }),
    unhealthyThreshold: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 3,
      description: 'Failing checks in a row that take an endpoint out of rotation.',
    }),
    expectedStatuses: Type.Optional(
      Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), {
        minItems: 1,
        maxItems: 64,
        description: 'Statuses that pass an HTTP check (default: 200-399).',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Active health checks, run once per node by the primary.',
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
    baseEjectionTime: duration(
      'The first ejection; each later one lasts this times the ejections so far',
      '30s',
    ),
    maxEjectionTime: duration('The longest one ejection lasts', '300s'),
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
    endpoints: Type.Optional(
      Type.Array(Endpoint, {
        minItems: 1,
        maxItems: 1024,
        description: 'Static endpoints; exactly one of endpoints or service.',
      }),
    ),
    service: Type.Optional(
      described(
        ServiceRef,
        'Endpoints discovered from a Service (ready ones only); exactly one of endpoints or service.',
      ),
    ),
    protocol: StringEnum(BACKEND_PROTOCOLS, {
      default: 'HTTP',
      description: 'HTTP (HTTP/1.1), HTTPS, H2C (HTTP/2 without TLS) or H2 (HTTP/2 over TLS).',
    }),
    tls: Type.Optional(BackendTls),
    loadBalancer: LoadBalancer,
    healthCheck: Type.Optional(HealthCheck),
    outlierDetection: Type.Optional(
      described(
        OutlierDetection,
        'Passive health per worker: endpoints failing in a row are ejected for a while (Envoy outlier detection).',
      ),
    ),
    retryBudget: Type.Optional(
      described(
        RetryBudget,
        'Retries in flight to this Backend per worker: at most max(minRetryConcurrency, percent% of its active requests).',
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'Where the upstream is and how to reach it.',
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
    type: Type.String({
      minLength: 1,
      maxLength: 316,
      description: 'Accepted, ResolvedRefs, Programmed or Conflicted.',
    }),
    status: StringEnum(['True', 'False', 'Unknown'] as const, { description: 'True, False or Unknown.' }),
    reason: Type.String({
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      description: 'Why, in PascalCase (e.g. BackendNotFound, RuleMatchConflict).',
    }),
    message: Type.String({ maxLength: 32768, description: 'Details, citing the field paths concerned.' }),
    observedGeneration: Type.Optional(
      Type.Integer({ minimum: 0, description: 'The metadata.generation this condition describes.' }),
    ),
    lastTransitionTime: Type.String({ format: 'date-time', description: 'When status last changed.' }),
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

const conditionsField = {
  conditions: Type.Optional(
    Type.Array(Condition, {
      maxItems: 8,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      description:
        'Accepted, ResolvedRefs and Programmed (and Conflicted on Routes), each with a reason, a message ' +
        'citing field paths, and the generation it describes.',
    }),
  ),
};

/** A list summarised into one string, because a printer column shows only the first JSONPath result. */
const summary = (description: string): ReturnType<typeof Type.String> =>
  Type.String({ maxLength: 1024, description: `${description} Written by the controller for kubectl get.` });

export const RouteStatus = Type.Object(
  {
    ...conditionsField,
    hostnames: Type.Optional(summary('spec.hostnames, comma-separated; * when the Route names none.')),
    backends: Type.Optional(summary('Every Backend the rules reference, comma-separated, each once.')),
  },
  { additionalProperties: false, description: 'What the controller observed; written by its leader.' },
);

export const BackendStatus = Type.Object(
  {
    ...conditionsField,
    endpoints: Type.Optional(
      summary('The static endpoints as address:port, comma-separated, or service/name:port.'),
    ),
  },
  { additionalProperties: false, description: 'What the controller observed; written by its leader.' },
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
