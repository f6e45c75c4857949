/**
 * Two controller replicas against one real kube-apiserver: both serve traffic, exactly one (the Lease
 * holder) writes status, and the other takes over when the leader stops.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, type Origin } from '../helpers/servers.ts';
import {
  applyCrds,
  backendYaml,
  conditions,
  eventually,
  routeYaml,
  startControlPlane,
  startTestController,
  type ControlPlane,
  type TestController,
} from './helpers.ts';

let cp: ControlPlane;
let origin: Origin;
const replicas: TestController[] = [];

describe('leader election', () => {
  before(async () => {
    cp = await startControlPlane();
    applyCrds(cp);
    origin = await startOrigin((_req, res) => res.end('ok'));
    replicas.push(await startTestController(cp, 'replica-1'), await startTestController(cp, 'replica-2'));
  });

  after(async () => {
    for (const r of replicas) await r.stop();
    await origin?.close();
    cp?.stop();
  });

  test('exactly one replica writes status; the other takes over when the leader stops', async () => {
    await eventually(
      () => assert.equal(replicas.filter((r) => r.controller!.isLeader).length, 1),
      10_000,
      'one leader',
    );
    const leader = replicas.find((r) => r.controller!.isLeader)!;
    const follower = replicas.find((r) => r !== leader)!;
    const holder = cp.kubectl(['get', 'lease', 'portico-leader', '-o', 'jsonpath={.spec.holderIdentity}']);
    assert.equal(holder, leader === replicas[0] ? 'replica-1' : 'replica-2');

    cp.apply(backendYaml('app', { endpoints: [{ address: '127.0.0.1', port: origin.port }] }));
    cp.apply(routeYaml('one', 'one.example.com', 'app'));
    for (const r of replicas)
      await eventually(async () => assert.equal((await r.request('one.example.com')).status, 200));
    await eventually(() => assert.equal(conditions(cp, 'route', 'one')['Programmed']?.status, 'True'));
    await leader.controller!.statusIdle();
    assert.ok(leader.controller!.statusWrites > 0);
    assert.equal(follower.controller!.statusWrites, 0, 'the follower never writes status');
    assert.equal(follower.controller!.isLeader, false);

    await leader.stop();
    replicas.splice(replicas.indexOf(leader), 1);
    await eventually(() => assert.ok(follower.controller!.isLeader), 10_000, 'takeover');
    cp.apply(routeYaml('two', 'two.example.com', 'app'));
    await eventually(() => assert.equal(conditions(cp, 'route', 'two')['Programmed']?.status, 'True'));
    // kubectl can see the status before the writer has counted the PATCH's answer.
    await follower.controller!.statusIdle();
    assert.ok(follower.controller!.statusWrites > 0);
    assert.equal((await follower.request('two.example.com')).status, 200);
  });
});
