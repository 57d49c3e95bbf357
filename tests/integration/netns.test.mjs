// netns.test.mjs - tests/lib/netns.mjs: hosts in network namespaces on one private /24, the
// demo shop in one of them delaying one client host's answers by 20 ms (--latency-from, as the
// distributed tests give the `far` location its latency), and cleanup, including what a killed
// earlier run left behind.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { SHOP_API_BIN } from '../lib/harness.mjs';
import { createNetwork, netnsUnavailable, openNamespaces, removeStale } from '../lib/netns.mjs';

const why = netnsUnavailable();
const N = 40;
const ROUNDS = 3;

/** Milliseconds of N sequential GETs from host over one keep-alive connection (curl). */
async function timesMs(net, host, url) {
  const r = await net.run(host, 'curl', ['-s', '--max-time', '20', '-w', '%{time_total}\\n',
    ...Array(N).fill(['-o', '/dev/null', url]).flat()], { timeoutMs: 30000 });
  assert.equal(r.code, 0, `curl from ${host}: ${r.stderr}`);
  const ms = r.stdout.trim().split('\n').map((s) => Number(s) * 1000);
  assert.equal(ms.length, N);
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('network namespaces', { skip: why || false }, () => {
  test('the shop delays one client namespace by 20 ms more than another', async () => {
    const net = createNetwork({ hosts: ['shop', 'near', 'far'] });
    try {
      assert.deepEqual(openNamespaces().sort(), [net.ns('far'), net.ns('near'), net.ns('shop'),
        net.ns('shop').replace(/-shop$/, '-hub')].sort());
      const url = `http://${net.addr('shop')}:8090`;
      // Reachable from the test's own namespace too (readyUrl is fetched from here).
      await net.start('shop', SHOP_API_BIN, ['--listen', net.addr('shop'), '--port', '8090', '--quiet',
        '--latency-ms', 'all=fixed:2', '--latency-from', `${net.addr('far')}/32=fixed:20`],
      { readyUrl: `${url}/__stats` });
      // Both clients at once, in rounds, so that a busy machine slows both alike.
      const nearMs = [], farMs = [];
      for (let round = 0; round < ROUNDS; round++) {
        const [a, b] = await Promise.all([timesMs(net, 'near', `${url}/api/v1/categories`),
          timesMs(net, 'far', `${url}/api/v1/categories`)]);
        nearMs.push(...a);
        farMs.push(...b);
      }
      const near = median(nearMs), far = median(farMs);
      assert.ok(near >= 2 && near < 10, `near median ${near.toFixed(2)} ms, want 2 (+ a little)`);
      assert.ok(Math.abs(far - near - 20) <= 2, `far ${far.toFixed(2)} ms - near ${near.toFixed(2)} ms is not 20 ± 2`);
      // The requests really came from the namespaces' addresses: the shop counted all of them.
      const stats = await (await fetch(`${url}/__stats`)).json();
      assert.equal(stats.endpoints['GET /api/v1/categories']['200'], 2 * N * ROUNDS);
    } finally {
      await net.destroy();
    }
    assert.deepEqual(openNamespaces(), [], 'every namespace is gone');
    assert.doesNotMatch(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }),
      new RegExp(`spr${process.pid}x`), 'the veth end in the test namespace is gone');
  });

  test('two networks at once are isolated from each other', async () => {
    const a = createNetwork({ hosts: ['x'] });
    const b = createNetwork({ hosts: ['x'] });
    try {
      assert.notEqual(a.ns('x'), b.ns('x'));
      assert.notEqual(a.subnet, b.subnet);
      const ping = await a.run('x', 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      assert.match(ping.stdout, new RegExp(`${a.addr('x').replaceAll('.', '\\.')}/24`));
      assert.doesNotMatch(ping.stdout, new RegExp(b.subnet.replaceAll('.', '\\.')));
    } finally {
      await a.destroy();
      await b.destroy();
    }
    assert.deepEqual(openNamespaces(), []);
  });

  test('what a killed earlier run left behind is removed', () => {
    // A PID that is certainly gone: a child that has exited.
    const dead = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
    const stale = `spt-${dead}-1-stale`;
    execFileSync('ip', ['netns', 'add', stale]);
    // A process left inside it, as a killed run leaves its server.
    const sleeper = spawnSync('sh', ['-c', `ip netns exec ${stale} sleep 60 >/dev/null 2>&1 & echo $!`],
      { encoding: 'utf8' }).stdout.trim();
    try {
      const removed = removeStale();
      assert.ok(removed.includes(stale), `removed: ${removed}`);
      assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(stale));
      // Killed: gone, or a zombie waiting for whoever reaps orphans here.
      let state = 'gone';
      try { state = fs.readFileSync(`/proc/${sleeper}/stat`, 'utf8').split(') ')[1][0]; } catch { /* gone */ }
      assert.ok(state === 'gone' || state === 'Z', `the process left in the stale namespace is still running (${state})`);
    } finally {
      spawnSync('ip', ['netns', 'del', stale]);
    }
  });
});
