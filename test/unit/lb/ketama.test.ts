import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashKey, KetamaSelector, POINTS_PER_WEIGHT } from '../../../src/lb/index.ts';
import { endpoint, endpoints } from './fixtures/endpoints.ts';

const KEYS = Array.from({ length: 100_000 }, (_, i) => `user-${i}`);

function owners(selector: KetamaSelector): string[] {
  return KEYS.map((key) => selector.endpoints[selector.pick(key)]!.id);
}

describe('ketama ring', () => {
  // Expected owners from pingora-ketama's tests, which were recorded from nginx `hash $key consistent`.
  it('matches nginx and Pingora for two upstreams', () => {
    const selector = new KetamaSelector([endpoint('127.0.0.1:7777'), endpoint('127.0.0.1:7778')]);
    const expected: [string, string][] = [
      ['/some/path', '127.0.0.1:7778'],
      ['/some/longer/path', '127.0.0.1:7777'],
      ['/sad/zaidoon', '127.0.0.1:7778'],
      ['/g', '127.0.0.1:7777'],
      ['/pingora/team/is/cool/and/this/is/a/long/uri', '127.0.0.1:7778'],
      ['/i/am/not/confident/in/this/code', '127.0.0.1:7777'],
    ];
    for (const [key, owner] of expected) assert.equal(selector.endpoints[selector.pick(key)]!.id, owner, key);
  });

  it('matches nginx for nine upstreams of weight 100', () => {
    const selector = new KetamaSelector(
      Array.from({ length: 9 }, (_, i) => endpoint(`10.0.0.${i + 1}:443`, 100)),
    );
    const expected: [string, string][] = [
      ['/81fa1d251d605775d647b5b55565e71526d4cef6', '10.0.0.7:443'],
      ['/2fec328e6ccdda6a7edf329f9f780e546ea183b4', '10.0.0.5:443'],
      ['/19fb835d90883a6263ec4279c6da184e3f1a79b2', '10.0.0.4:443'],
      ['/d9c4bc3cc4517c629e8f4c911c2fd8baf260ae65', '10.0.0.1:443'],
      ['/fe5199bdfeee5cd431ae7e9f77f178164f9995a0', '10.0.0.9:443'],
      ['/43992eee187920c5e8695332f71ca6e23ef6ac4b', '10.0.0.3:443'],
      ['/77766138aaf0c016bdd1f6b996177fc8ca1d2204', '10.0.0.8:443'],
      ['/860c86b94e04f2648fb164c87fd6166707fd08ff', '10.0.0.6:443'],
      ['/668fd6d99bfb50b85b0928a8915761be2ca19089', '10.0.0.2:443'],
    ];
    for (const [key, owner] of expected) assert.equal(selector.endpoints[selector.pick(key)]!.id, owner, key);
  });

  it('keeps keys in place when a host is added (Pingora consistency_after_adding_host)', () => {
    for (const count of [10, 11]) {
      const selector = new KetamaSelector(
        Array.from({ length: count }, (_, i) => endpoint(`127.0.0.${i + 1}:6443`)),
      );
      assert.equal(selector.endpoints[selector.pick('a')]!.id, '127.0.0.10:6443');
      assert.equal(selector.endpoints[selector.pick('b')]!.id, '127.0.0.5:6443');
    }
  });

  it('accepts a precomputed hash as the key', () => {
    const selector = new KetamaSelector(endpoints(10));
    for (const key of KEYS.slice(0, 1000)) assert.equal(selector.pick(hashKey(key)), selector.pick(key));
  });

  it(`places ${POINTS_PER_WEIGHT} points per weight unit`, () => {
    const heavy = new KetamaSelector([endpoint('10.0.0.1:80', 3), endpoint('10.0.0.2:80', 1)]);
    const share = owners(heavy).filter((id) => id === '10.0.0.1:80').length / KEYS.length;
    assert.ok(Math.abs(share - 0.75) < 0.05, `share ${share}`);
  });

  it('moves at most 12% of 100k keys when 1 of 10 endpoints is removed, and none back when it returns', () => {
    const all = endpoints(10);
    const before = owners(new KetamaSelector(all));
    const removed = all[3]!.id;
    const after = owners(new KetamaSelector(all.filter((e) => e.id !== removed)));
    let moved = 0;
    before.forEach((owner, i) => {
      if (owner !== after[i]) moved++;
      if (owner !== removed) assert.equal(after[i], owner, 'only the removed endpoint’s keys move');
    });
    assert.ok(moved / KEYS.length <= 0.12, `moved ${((100 * moved) / KEYS.length).toFixed(2)}%`);
    assert.deepEqual(owners(new KetamaSelector(all)), before);
  });

  it('sends an unusable endpoint’s keys where removing it would send them', () => {
    const all = endpoints(10);
    const full = new KetamaSelector(all);
    const without = new KetamaSelector(all.filter((_, i) => i !== 3));
    for (const key of KEYS.slice(0, 20_000)) {
      const skipped = full.endpoints[full.pick(key, (i) => i !== 3)]!.id;
      assert.equal(skipped, without.endpoints[without.pick(key)]!.id, key);
    }
  });
});
