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
 */
import type { FieldError } from '../errors.ts';
import type { ApplyReport } from '../gateway/index.ts';

export type ConditionType = 'Accepted' | 'ResolvedRefs' | 'Programmed';

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
  const refErrors = group([...report.unresolvedRefs, ...report.fileErrors]);
  for (const key of report.accepted) {
    const generation = generations.get(key) ?? 0;
    const c = (
      type: ConditionType,
      status: DesiredCondition['status'],
      reason: string,
      message: string,
    ): DesiredCondition => ({
      type,
      status,
      reason,
      message,
      observedGeneration: generation,
    });
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
      ],
    });
  }
  for (const r of report.rejected) {
    const key = r.object;
    const generation = generations.get(key) ?? 0;
    const reason = r.errors[0]?.reason ?? 'Invalid';
    const c = (
      type: ConditionType,
      status: DesiredCondition['status'],
      why: string,
      message: string,
    ): DesiredCondition => ({
      type,
      status,
      reason: why,
      message,
      observedGeneration: generation,
    });
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
