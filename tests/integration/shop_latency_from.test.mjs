// shop_latency_from.test.mjs - the demo shop's --latency-from: latency added by the client's
// source address (this kernel has no netem qdisc, so this is how the distributed tests give one
// client network more latency than another). On loopback: 127.0.0.1, .2 and .3 are all local
// addresses a client can send from (curl --interface).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startShop, run, SHOP_API_BIN } from '../lib/harness.mjs';

/** Milliseconds of n sequential GETs from localAddress over one keep-alive connection (curl). */
async function times(port, path, localAddress, n) {
  const url = `http://127.0.0.1:${port}${path}`;
  const r = await run('curl', ['-s', '--max-time', '20', '--interface', localAddress, '-w', '%{time_total}\\n',
    ...Array(n).fill(['-o', '/dev/null', url]).flat()], { timeoutMs: 30000 });
  assert.equal(r.code, 0, `curl from ${localAddress}: ${r.stderr}`);
  const ms = r.stdout.trim().split('\n').map((x) => Number(x) * 1000);
  assert.equal(ms.length, n);
  return ms;
}

/**
 * The median time of GETs from each address, measured from all of them at once and in rounds,
 * so that a busy shared machine slows them alike: the differences between them are what the
 * test can hold to a tight bound. (No request can be faster than its injected delay, whatever
 * the load: deadlines are absolute.)
 */
async function medians(port, path, addrs, { n = 20, rounds = 3 } = {}) {
  const all = addrs.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const got = await Promise.all(addrs.map((a) => times(port, path, a, n)));
    got.forEach((ms, i) => all[i].push(...ms));
  }
  return all.map((ms) => ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]);
}

const fmt = (x) => x.toFixed(2);

describe('shop-api --latency-from', () => {
  test('adds to the route latency, by the longest matching prefix of the source address', async () => {
    const shop = await startShop(['--latency-ms', 'all=fixed:5',
      '--latency-from', '127.0.0.0/8=fixed:10', '--latency-from', '127.0.0.2=fixed:30']);
    try {
      const [one, two, three] = await medians(shop.port, '/api/v1/categories',
        ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
      // 5 (all) + 10 (the /8) for .1 and .3; 5 + 30 (the /32 wins over the /8) for .2.
      assert.ok(one >= 15 && three >= 15 && two >= 35, `medians ${fmt(one)}, ${fmt(two)}, ${fmt(three)} ms`);
      assert.ok(Math.abs(two - one - 20) <= 3, `.2 - .1 = ${fmt(two - one)} ms, want 20 ± 3`);
      assert.ok(Math.abs(three - one) <= 3, `.3 - .1 = ${fmt(three - one)} ms, want 0 ± 3`);
      // The ground-truth endpoints are never delayed, whoever asks (delayed, none of them
      // could take less than 35 ms).
      const stats = Math.min(...await times(shop.port, '/__stats', '127.0.0.2', 3));
      assert.ok(stats < 35, `/__stats took ${fmt(stats)} ms`);
    } finally {
      await shop.stop();
    }
  });

  test('a network given with host bits set means its network; other clients get nothing added', async () => {
    const shop = await startShop(['--latency-from', '127.0.0.9/30=fixed:25']);
    try {
      // 127.0.0.10 is in 127.0.0.8/30; 127.0.0.1 in no network given.
      const [near, far] = await medians(shop.port, '/api/v1/categories', ['127.0.0.1', '127.0.0.10']);
      assert.ok(far >= 25, `127.0.0.10: median ${fmt(far)} ms, want at least 25`);
      assert.ok(Math.abs(far - near - 25) <= 3, `.10 - .1 = ${fmt(far - near)} ms, want 25 ± 3`);
    } finally {
      await shop.stop();
    }
  });

  test('bad specs are refused with exit 2 and a message naming the option', async () => {
    for (const spec of ['127.0.0.1', '=fixed:5', 'shop.example=fixed:5', '10.0.0.0/33=fixed:5',
      '::1/129=fixed:5', '10.0.0.0/x=fixed:5', '10.0.0.0/8=fixed:-1', '10.0.0.0/8=gauss:3',
      '10.0.0.0/8=uniform:9-2']) {
      const r = await run(SHOP_API_BIN, ['--port', '1', '--latency-from', spec], { timeoutMs: 5000 });
      assert.equal(r.code, 2, `${spec}: exit ${r.code}`);
      assert.match(r.stderr, /--latency-from '/, `${spec}: ${r.stderr}`);
      assert.ok(r.stderr.includes(spec), `${spec}: the message quotes the spec: ${r.stderr}`);
    }
  });
});
