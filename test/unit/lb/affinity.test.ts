import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionAffinity, cookieValue, type Endpoint } from '../../../src/lb/index.ts';

const endpoints: Endpoint[] = [
  { id: '10.0.0.1:80', address: '10.0.0.1', port: 80, weight: 1 },
  { id: '10.0.0.2:80', address: '10.0.0.2', port: 80, weight: 1 },
];

function tokenOf(setCookie: string): string {
  return setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));
}

test('tokens are the same for the same scope and endpoint, in any process, and differ otherwise', () => {
  const a = new SessionAffinity('default/web', endpoints, { name: 's' });
  const again = new SessionAffinity('default/web', [...endpoints].reverse(), { name: 's' });
  const other = new SessionAffinity('default/api', endpoints, { name: 's' });
  assert.equal(tokenOf(a.setCookie(0, false)), tokenOf(again.setCookie(1, false)));
  assert.notEqual(tokenOf(a.setCookie(0, false)), tokenOf(a.setCookie(1, false)));
  assert.notEqual(tokenOf(a.setCookie(0, false)), tokenOf(other.setCookie(0, false)));
  assert.equal(again.endpointFor(`s=${tokenOf(a.setCookie(1, false))}`), 0);
});

test('the cookie: attributes, Max-Age only when asked, Secure over HTTPS', () => {
  const session = new SessionAffinity('b', endpoints, { name: 'sticky' });
  assert.match(session.setCookie(0, false), /^sticky=[\w-]{16}; Path=\/; HttpOnly; SameSite=Lax$/);
  const permanent = new SessionAffinity('b', endpoints, { name: 'sticky', maxAgeSeconds: 60, path: '/shop' });
  assert.match(permanent.setCookie(1, true), /; Path=\/shop; Max-Age=60; HttpOnly; SameSite=Lax; Secure$/);
});

test('endpointFor finds the token among other cookies, and -1 for none or an unknown one', () => {
  const session = new SessionAffinity('b', endpoints, { name: 'sticky' });
  const token = tokenOf(session.setCookie(1, false));
  assert.equal(session.endpointFor(`a=1; sticky=${token}; b=2`), 1);
  assert.equal(session.endpointFor(`sticky=${token}`), 1);
  assert.equal(session.endpointFor(undefined), -1);
  assert.equal(session.endpointFor('a=1'), -1);
  assert.equal(session.endpointFor('sticky=nope'), -1);
  assert.equal(session.endpointFor(`xsticky=${token}`), -1);
});

test('options are checked at construction, naming the option', () => {
  assert.throws(() => new SessionAffinity('b', endpoints, { name: 'a b' }), /name: must be a cookie name/);
  assert.throws(() => new SessionAffinity('b', endpoints, { name: 'a', path: 'x' }), /path: must start/);
  assert.throws(
    () => new SessionAffinity('b', endpoints, { name: 'a', maxAgeSeconds: 0 }),
    /maxAgeSeconds: must be a positive/,
  );
});

test('cookieValue parses RFC 6265 pairs with optional whitespace', () => {
  assert.equal(cookieValue('a=1;b=2', 'b'), '2');
  assert.equal(cookieValue(' a = 1 ; b=x=y ', 'b'), 'x=y');
  assert.equal(cookieValue('a=1; b', 'b'), undefined);
  assert.equal(cookieValue('', 'a'), undefined);
});
