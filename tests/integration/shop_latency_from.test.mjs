// shop_latency_from.test.mjs - the demo shop's --latency-from: latency added by the client's
// source address (this kernel has no netem qdisc, so this is how the distributed tests give one
// client network more latency than another). On loopback: 127.0.0.1, .2 and .3 are all local
// addresses a client can send from (node's localAddress).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startShop, run, SHOP_API_BIN } from '../lib/harness.mjs';

/** Milliseconds of one GET from localAddress, on a fresh connection. */
function timedGet(port, path, localAddress) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.get({ host: '127.0.0.1', port, path, localAddress, agent: false,
      timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode,
        ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/**
 * The first quartile of n sequential requests' times from one address: a shared, busy machine
 * only ever adds time, so a low quantile shows the injected delay best.
 */
async function quartile(port, path, localAddress, n = 16) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const r = await timedGet(port, path, localAddress);
    assert.equal(r.status, 200);
    ms.push(r.ms);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(n / 4)];
}

describe('shop-api --latency-from', () => {
  test('adds to the route latency, by the longest matching prefix of the source address', async () => {
    const shop = await startShop(['--latency-ms', 'all=fixed:5',
      '--latency-from', '127.0.0.0/8=fixed:10', '--latency-from', '127.0.0.2=fixed:30']);
    try {
      const one = await quartile(shop.port, '/api/v1/categories', '127.0.0.1');
      const two = await quartile(shop.port, '/api/v1/categories', '127.0.0.2');
      const three = await quartile(shop.port, '/api/v1/categories', '127.0.0.3');
      // 5 (all) + 10 (the /8) for .1 and .3; 5 + 30 (the /32 wins over the /8) for .2. The
      // floor is exact (deadlines are absolute); the ceiling allows a loaded machine.
      for (const [who, got, want] of [['127.0.0.1', one, 15], ['127.0.0.2', two, 35], ['127.0.0.3', three, 15]]) {
        assert.ok(got >= want && got < want + 7, `${who}: first quartile ${got.toFixed(2)} ms, want ${want} ms (+<7)`);
      }
      // The ground-truth endpoints are never delayed, whoever asks.
      const stats = await timedGet(shop.port, '/__stats', '127.0.0.2');
      assert.ok(stats.ms < 20, `/__stats took ${stats.ms} ms`);
    } finally {
      await shop.stop();
    }
  });

  test('a network given with host bits set means its network; other clients get nothing added', async () => {
    const shop = await startShop(['--latency-from', '127.0.0.9/30=fixed:25']);
    try {
      const near = await quartile(shop.port, '/api/v1/categories', '127.0.0.1', 12);
      const far = await quartile(shop.port, '/api/v1/categories', '127.0.0.10', 12); // in 127.0.0.8/30
      assert.ok(near < 8, `127.0.0.1: first quartile ${near} ms, want ~0`);
      assert.ok(far >= 25 && far < 33, `127.0.0.10: first quartile ${far} ms, want 25`);
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
