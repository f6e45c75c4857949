import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CertificateEntryCache,
  CertificateStore,
  checkServerCertificate,
  type CertificateEntry,
} from '../../../src/tls/index.ts';
import { createPki } from '../../helpers/certs.ts';

const pki = createPki();
const a = pki.issue('a.test', ['a.test']);
const b = pki.issue('b.test', ['b.test']);
const DAY = 86_400_000;

test('checkServerCertificate names the origin and what is wrong', () => {
  checkServerCertificate(a, 'Secret default/a');
  assert.throws(
    () => checkServerCertificate({ cert: a.cert, key: b.key }, 'Secret default/a'),
    /^PorticoError: Secret default\/a: the private key does not match the certificate$/,
  );
  assert.throws(
    () => checkServerCertificate({ cert: 'not pem', key: a.key }, 'a.crt'),
    /a\.crt: the certificate is not valid PEM/,
  );
  assert.throws(
    () => checkServerCertificate({ cert: a.cert, key: 'not pem' }, 'a.key'),
    /a\.key: the private key is not valid PEM/,
  );
  // The test CA issues for one day.
  assert.throws(
    () => checkServerCertificate(a, 'a', Date.now() + 3 * DAY),
    /a: the certificate expired on 20/,
  );
  assert.throws(
    () => checkServerCertificate(a, 'a', Date.now() - 3 * DAY),
    /a: the certificate is not valid before/,
  );
});

test('CertificateStore: exact, then a one-label wildcard, then the default; case-insensitive', () => {
  const entry = (key: string): CertificateEntry => ({ key }) as unknown as CertificateEntry;
  const store = new CertificateStore(
    new Map([
      ['a.test', entry('exact')],
      ['*.test', entry('wildcard')],
      ['*.deep.test', entry('deep')],
    ]),
    entry('default'),
  );
  assert.equal(store.lookup('a.test')?.key, 'exact');
  assert.equal(store.lookup('A.Test')?.key, 'exact');
  assert.equal(store.lookup('b.test')?.key, 'wildcard');
  assert.equal(store.lookup('x.deep.test')?.key, 'deep');
  assert.equal(store.lookup('x.y.deep.test')?.key, 'default');
  assert.equal(store.lookup('test')?.key, 'default');
  assert.equal(store.lookup(undefined)?.key, 'default');
  assert.equal(new CertificateStore(new Map()).lookup('a.test'), undefined);
});

test('CertificateEntryCache reuses unchanged contexts across builds and checks new material', () => {
  const cache = new CertificateEntryCache(Buffer.alloc(48, 7));
  const first = cache.entry({ key: 'Route default/a', pairs: [a] });
  cache.seal();
  assert.equal(cache.entry({ key: 'Route default/a', pairs: [a] }), first, 'same material, same entry');
  const rotated = cache.entry({ key: 'Route default/a', pairs: [b] });
  assert.notEqual(rotated.context, first.context);
  assert.equal(rotated.key, first.key, 'a rotation keeps the key (no 421 on open connections)');
  cache.seal();
  cache.seal();
  assert.notEqual(
    cache.entry({ key: 'Route default/a', pairs: [a] }),
    first,
    'forgotten after a build without it',
  );
  assert.throws(
    () =>
      cache.entry({
        key: 'Route default/x',
        pairs: [{ cert: a.cert, key: b.key, origin: 'Secret default/x' }],
      }),
    /Secret default\/x: the private key does not match/,
  );
});
