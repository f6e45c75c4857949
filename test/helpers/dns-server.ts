import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';

/**
 * A tiny authoritative DNS server on 127.0.0.1:0 (UDP) for tests: A records from a map the test
 * changes at will, each answered with `ttl`; names not in the map are NXDOMAIN; AAAA has no data.
 * Counts queries per name (answered or not), so tests can see re-resolution happen.
 */
export interface TestDns {
  readonly server: string;
  records: Map<string, string[]>;
  ttl: number;
  /** When true, every query goes unanswered (a resolver outage). */
  silent: boolean;
  readonly queries: Map<string, number>;
  close(): Promise<void>;
}

export async function startDns(records: Record<string, string[]>, ttl = 1): Promise<TestDns> {
  const socket: Socket = createSocket('udp4');
  const dns: TestDns = {
    server: '',
    records: new Map(Object.entries(records)),
    ttl,
    silent: false,
    queries: new Map(),
    close: async () => {
      socket.close();
      await once(socket, 'close');
    },
  };
  socket.on('message', (query, peer) => {
    const { name, type, end } = parseQuestion(query);
    dns.queries.set(name, (dns.queries.get(name) ?? 0) + 1);
    if (dns.silent) return;
    const addresses = dns.records.get(name);
    const answers = type === 1 && addresses !== undefined ? addresses : [];
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(addresses === undefined ? 0x8183 : 0x8180, 2); // response, RD, RA; NXDOMAIN or not
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const records = answers.map((address) => {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(dns.ttl, 6);
      rr.writeUInt16BE(4, 10);
      address.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
      return rr;
    });
    socket.send(Buffer.concat([header, query.subarray(12, end), ...records]), peer.port, peer.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return Object.assign(dns, { server: `127.0.0.1:${socket.address().port}` });
}

function parseQuestion(query: Buffer): { name: string; type: number; end: number } {
  const labels: string[] = [];
  let at = 12;
  while (query[at]! !== 0) {
    const length = query[at]!;
    labels.push(query.toString('latin1', at + 1, at + 1 + length));
    at += length + 1;
  }
  const type = query.readUInt16BE(at + 1);
  return { name: labels.join('.').toLowerCase(), type, end: at + 5 };
}
