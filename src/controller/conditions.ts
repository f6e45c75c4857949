/**
 * Turns an ApplyReport into the conditions each Route and Backend should carry. Pure: the status
 * writer decides what actually needs writing. Messages never mention versions or counts that change
 * on every rebuild, so an object whose situation did not change is never rewritten.
 *
 * | type         | True                         | False / Unknown                                        |
 * | ------------ | ---------------------------- | ------------------------------------------------------ |
 * | Accepted     | Accepted                     | the first validation reason (InvalidRegex, InvalidField…) |
 * | ResolvedRefs | ResolvedRefs                 | BackendNotFound, SecretNotFound; Unknown/Invalid       |
 * | Programmed   | Programmed (every worker)    | Pending (Unknown), Invalid, SecretNotFound             |
 * | Conflicted   | RuleMatchConflict, CertificateConflict (Routes only; message names the winner) | NoConflicts |
 *
 * Conflicted follows Gateway API's Listener condition of that name (True means "lost something to
 * another object"). A Route that loses a match or a certificate stays Accepted and Programmed: it
 * serves everything else, and takes over the contested part as soon as the winner goes.
 */
import type { FieldError } from '../errors.ts';
import type { ApplyReport } from '../gateway/index.ts';

export type ConditionType = 'Accepted' | 'ResolvedRefs' | 'Programmed' | 'Conflicted';

export interface DesiredCondition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration: number;
}

export interface DesiredStatus {
  /** `Kind namespace/name` */
  key: string;
  generation: number;
  conditions: DesiredCondition[];
}

const MAX_MESSAGE = 2_000;

function describeErrors(errors: readonly FieldError[]): string {
  const text = errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}

function group(errors: readonly FieldError[]): Map<string, FieldError[]> {
  const out = new Map<string, FieldError[]>();
  for (const e of errors) {
    const list = out.get(e.object) ?? [];
    list.push(e);
    out.set(e.object, list);
  }
  return out;
}

/** Reasons of errors that say "another object won this", not "this object is broken". */
const CONFLICT_REASONS: ReadonlySet<string> = new Set(['RuleMatchConflict', 'CertificateConflict']);

type MakeCondition = (
  type: ConditionType,
  status: DesiredCondition['status'],
  reason: string,
  message: string,
) => DesiredCondition;

/** Conditions of one object, each carrying the generation they describe. */
function conditionMaker(observedGeneration: number): MakeCondition {
  return (type, status, reason, message) => ({ type, status, reason, message, observedGeneration });
}

function conflictedCondition(lost: readonly FieldError[] | undefined, c: MakeCondition): DesiredCondition {
  return lost === undefined
    ? c('Conflicted', 'False', 'NoConflicts', 'no other Route claims these matches or certificates')
    : c('Conflicted', 'True', lost[0]!.reason, describeErrors(lost));
}

/**
 * The conditions for every object in `report`. `generations` gives each object's generation in the
 * published version; `programmed` says whether every worker serves it yet.
 */
export function desiredStatuses(
  report: ApplyReport,
  generations: ReadonlyMap<string, number>,
  programmed: boolean,
): DesiredStatus[] {
  const out: DesiredStatus[] = [];
  const lostToOthers = (e: FieldError): boolean => CONFLICT_REASONS.has(e.reason);
  const refErrors = group([...report.unresolvedRefs, ...report.fileErrors].filter((e) => !lostToOthers(e)));
  const conflicts = group([...report.conflicts, ...report.fileErrors.filter(lostToOthers)]);
  for (const key of report.accepted) {
    const generation = generations.get(key) ?? 0;
    const c = conditionMaker(generation);
    const refs = refErrors.get(key);
    // A Backend whose Secret is missing cannot be dialled: its traffic is answered with 502.
    const broken = key.startsWith('Backend ') && refs !== undefined;
    out.push({
      key,
      generation,
      conditions: [
        c('Accepted', 'True', 'Accepted', 'the object is valid'),
        refs === undefined
          ? c('ResolvedRefs', 'True', 'ResolvedRefs', 'every reference resolved')
          : c('ResolvedRefs', 'False', refs[0]!.reason, describeErrors(refs)),
        broken
          ? c(
              'Programmed',
              'False',
              refs[0]!.reason,
              `requests to this Backend are answered with 502: ${describeErrors(refs)}`,
            )
          : programmed
            ? c('Programmed', 'True', 'Programmed', 'served by every worker')
            : c('Programmed', 'Unknown', 'Pending', 'waiting for every worker to load the configuration'),
        ...(key.startsWith('Route ') ? [conflictedCondition(conflicts.get(key), c)] : []),
      ],
    });
  }
  for (const r of report.rejected) {
    const key = r.object;
    const generation = generations.get(key) ?? 0;
    const reason = r.errors[0]?.reason ?? 'Invalid';
    const c = conditionMaker(generation);
    out.push({
      key,
      generation,
      conditions: [
        c('Accepted', 'False', reason, describeErrors(r.errors)),
        c('ResolvedRefs', 'Unknown', 'Invalid', 'references are not checked for an invalid object'),
        c(
          'Programmed',
          'False',
          'Invalid',
          r.servingPrevious
            ? 'this generation was rejected; the last valid generation keeps serving'
            : 'this generation was rejected and is not served',
        ),
      ],
    });
  }
  return out;
}

/** The one-string summaries of lists that `kubectl get` shows (a printer column shows one value). */
export type StatusSummary = Record<'hostnames' | 'backends', string> | Record<'endpoints', string>;

/** Long lists are cut here, with a count of the rest, so a column stays readable and status small. */
const SUMMARY_ITEMS = 8;

function joined(items: readonly string[]): string {
  const unique = [...new Set(items)];
  const shown = unique.slice(0, SUMMARY_ITEMS).join(',');
  return unique.length > SUMMARY_ITEMS ? `${shown},…(+${unique.length - SUMMARY_ITEMS})` : shown;
}

interface SummarisedSpec {
  hostnames?: unknown;
  rules?: Array<{ backendRefs?: Array<{ name?: unknown }> }>;
  endpoints?: Array<{ address?: unknown; port?: unknown }>;
  service?: { name?: unknown; port?: unknown };
}

/**
 * What the printer columns show for an object, from its spec: a Route's hostnames (`*` for none) and
 * every Backend it references, a Backend's endpoints as `address:port` (IPv6 in brackets) or its
 * Service. Spec-only, so it changes only with the generation.
 */
export function statusSummary(kind: 'Route' | 'Backend', spec: unknown): StatusSummary {
  const s = (spec ?? {}) as SummarisedSpec;
  if (kind === 'Route') {
    const hosts = Array.isArray(s.hostnames) ? s.hostnames.map(String) : [];
    const refs = (s.rules ?? []).flatMap((r) => (r.backendRefs ?? []).map((ref) => String(ref.name)));
    return { hostnames: hosts.length === 0 ? '*' : joined(hosts), backends: joined(refs) };
  }
  if (s.service !== undefined)
    return { endpoints: `service/${String(s.service.name)}:${String(s.service.port)}` };
  const endpoints = (s.endpoints ?? []).map(({ address, port }) => {
    const host = String(address);
    return `${host.includes(':') ? `[${host}]` : host}:${String(port)}`;
  });
  return { endpoints: joined(endpoints) };
}
