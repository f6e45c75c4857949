import { InvalidArgumentError } from '../errors.ts';

const VARIABLE = 'PORTICO_TLS_TICKET_KEYS';

/**
 * The 48 bytes of TLS session-ticket keys every process of this server uses, so a client resumes its
 * session whichever worker the kernel hands its next connection to. Taken from `PORTICO_TLS_TICKET_KEYS`
 * (base64; set it from a Secret to share resumption across nodes too), else made once in the primary and
 * left in its environment, which the workers it forks inherit.
 */
export function sharedTicketKeys(env: NodeJS.ProcessEnv = process.env): Buffer {
  const raw = env[VARIABLE];
  if (raw !== undefined && raw !== '') {
    const keys = Buffer.from(raw, 'base64');
    if (keys.length !== 48)
      throw new InvalidArgumentError(VARIABLE, `must be 48 bytes in base64, got ${keys.length}`);
    return keys;
  }
  const keys = process.getBuiltinModule('node:crypto').randomBytes(48);
  env[VARIABLE] = keys.toString('base64');
  return keys;
}
