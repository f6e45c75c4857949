import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM material made by the real openssl CLI: a CA, and leaf certificates it signs. */
export interface TestPki {
  dir: string;
  caCert: string;
  caCertFile: string;
  /** Issues an ECDSA P-256 leaf for `names` (DNS SANs); `client` sets clientAuth usage. */
  issue(
    commonName: string,
    names: string[],
    usage?: 'server' | 'client',
  ): { cert: string; key: string; certFile: string; keyFile: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

export function createPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'portico-pki-'));
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-subj',
      '/CN=Portico Test CA',
      '-days',
      '2',
      '-out',
      'ca.crt',
    ],
    dir,
  );
  let serial = 0;
  return {
    dir,
    caCert: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    caCertFile: join(dir, 'ca.crt'),
    issue(commonName, names, usage = 'server') {
      const id = `leaf${++serial}`;
      const ext = join(dir, `${id}.ext`);
      const san = names.map((n) => (/^[\d.]+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
      writeFileSync(
        ext,
        `subjectAltName=${san || `DNS:${commonName}`}\nextendedKeyUsage=${usage === 'client' ? 'clientAuth' : 'serverAuth'}\n`,
      );
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${id}.key`], dir);
      openssl(['req', '-new', '-key', `${id}.key`, '-subj', `/CN=${commonName}`, '-out', `${id}.csr`], dir);
      openssl(
        [
          'x509',
          '-req',
          '-in',
          `${id}.csr`,
          '-CA',
          'ca.crt',
          '-CAkey',
          'ca.key',
          '-CAcreateserial',
          '-days',
          '1',
          '-extfile',
          ext,
          '-out',
          `${id}.crt`,
        ],
        dir,
      );
      const certFile = join(dir, `${id}.crt`);
      const keyFile = join(dir, `${id}.key`);
      return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
    },
  };
}
