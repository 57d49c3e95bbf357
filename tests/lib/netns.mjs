// netns.mjs - network namespaces for tests that need processes on separate hosts of a network
// (agents reaching a server over a network, clients with different source addresses).
//
// createNetwork({ hosts }) makes one namespace per host name and a hub namespace holding a
// bridge; each host is joined to the bridge by a veth pair and gets an address in a private
// /24 (10.77.N.0/24, N chosen so that the test's own namespace has no address in it). The
// test's namespace (where node runs) is joined too, as 10.77.N.1, so the test can reach every
// host and every host can reach it. Nothing else of the machine's network changes: the bridge
// lives in the hub namespace, so the host's firewall and bridge netfilter settings do not apply
// to the test's traffic, and the only interface added to the test's namespace is one veth end.
//
// Names are unique to the run: spt-PID-SEQ-HOST (and spt-PID-SEQ-hub). Cleanup is always done:
// destroy() kills the processes started in the namespaces and deletes them; an exit handler
// does the same if a test fails or the runner is interrupted; and every createNetwork() first
// removes what an earlier run left behind when it was killed (namespaces whose PID is gone).
import { execFileSync } from 'node:child_process';
import { startProcess, run } from './harness.mjs';

const PREFIX = 'spt-';
let seq = 0;
const open = new Set();

function ip(args, { allowFail = false } = {}) {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 });
  } catch (e) {
    if (allowFail) return '';
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr || e.message || '').toString().trim()}`);
  }
}

/** Why network namespaces cannot be used here, or null when they can. */
export function netnsUnavailable() {
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add); run the test as root';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the ip command (iproute2) is not installed';
  }
  return null;
}

function listNamespaces() {
  return ip(['netns', 'list'], { allowFail: true }).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Kills every process in namespace ns, then deletes it. */
function deleteNamespace(ns) {
  const pids = ip(['netns', 'pids', ns], { allowFail: true }).split('\n').map(Number).filter((p) => p > 0);
  for (const p of pids) {
    try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  }
  ip(['netns', 'del', ns], { allowFail: true });
}

/**
 * Removes the namespaces (and with them their veth pairs) of earlier runs whose process is
 * gone, e.g. killed by a ctest timeout. Returns the names removed.
 */
export function removeStale() {
  const removed = [];
  for (const ns of listNamespaces()) {
    const m = /^spt-(\d+)-\d+-/.exec(ns);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    deleteNamespace(ns);
    removed.push(ns);
  }
  // A root-side veth end whose peer namespace was deleted goes with it; one whose hub is gone
  // too is named spr<pid>x<seq>: remove any left whose run is gone.
  for (const line of ip(['-o', 'link', 'show'], { allowFail: true }).split('\n')) {
    const m = /^\d+: (spr(\d+)x\d+)[@:]/.exec(line);
    if (m && Number(m[2]) !== process.pid && !alive(Number(m[2]))) {
      ip(['link', 'del', m[1]], { allowFail: true });
      removed.push(m[1]);
    }
  }
  return removed;
}

/** A 10.77.N.0/24 with no address of the test's namespace in it. */
function freeSubnet() {
  const used = ip(['-4', '-o', 'addr', 'show'], { allowFail: true });
  const start = Math.floor(Math.random() * 250);
  for (let k = 0; k < 250; k++) {
    const n = (start + k) % 250 + 1;
    if (!used.includes(` 10.77.${n}.`)) return `10.77.${n}`;
  }
  throw new Error('no free 10.77.N.0/24 subnet');
}

/**
 * Creates the namespaces of hosts (names of at most 8 letters, digits or '-') joined on one
 * /24. Returns {
 *   subnet, testAddr,         '10.77.N' and the test namespace's address 10.77.N.1
 *   ns(host), addr(host),     the namespace name and the address of a host
 *   start(host, bin, args, opts)   harness startProcess inside the host's namespace
 *   run(host, bin, args, opts)     harness run inside the host's namespace
 *   destroy()                 kills what runs inside, deletes the namespaces and the veth
 * }
 */
export function createNetwork({ hosts }) {
  const why = netnsUnavailable();
  if (why) throw new Error(why);
  removeStale();
  const id = `${process.pid}-${++seq}`;
  const subnet = freeSubnet();
  const hub = `${PREFIX}${id}-hub`;
  const names = new Map(hosts.map((h) => {
    if (!/^[a-z0-9-]{1,8}$/.test(h) || h === 'hub') throw new Error(`bad host name '${h}'`);
    return [h, `${PREFIX}${id}-${h}`];
  }));
  const addrs = new Map(hosts.map((h, i) => [h, `${subnet}.${i + 2}`]));
  const rootLink = `spr${process.pid}x${seq}`;
  const net = {
    subnet, testAddr: `${subnet}.1`,
    ns: (h) => names.get(h),
    addr: (h) => addrs.get(h),
    processes: [],
    destroyed: false,
    start(h, bin, args, opts = {}) {
      const p = startProcess('ip', ['netns', 'exec', names.get(h), bin, ...args], opts);
      return p.then((handle) => { net.processes.push(handle); return handle; });
    },
    run(h, bin, args, opts = {}) {
      return run('ip', ['netns', 'exec', names.get(h), bin, ...args], opts);
    },
    destroySync() {
      if (net.destroyed) return;
      net.destroyed = true;
      open.delete(net);
      for (const ns of [...names.values(), hub]) deleteNamespace(ns);
      ip(['link', 'del', rootLink], { allowFail: true });
    },
    async destroy() {
      await Promise.all(net.processes.map((p) => p.stop('SIGKILL', 1000)));
      net.destroySync();
    },
  };
  open.add(net);
  try {
    ip(['netns', 'add', hub]);
    ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', hub, 'link', 'set', 'br0', 'up']);
    let i = 0;
    for (const [h, ns] of names) {
      ip(['netns', 'add', ns]);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      const side = `v${i++}`;
      ip(['-n', hub, 'link', 'add', side, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['-n', hub, 'link', 'set', side, 'master', 'br0', 'up']);
      ip(['-n', ns, 'addr', 'add', `${addrs.get(h)}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    // The test's own namespace: one veth end with .1, its peer on the hub's bridge.
    ip(['link', 'add', rootLink, 'type', 'veth', 'peer', 'name', 'root', 'netns', hub]);
    ip(['-n', hub, 'link', 'set', 'root', 'master', 'br0', 'up']);
    ip(['addr', 'add', `${subnet}.1/24`, 'dev', rootLink]);
    ip(['link', 'set', rootLink, 'up']);
  } catch (e) {
    net.destroySync();
    throw e;
  }
  return net;
}

/** Namespaces this process made and has not deleted (for the tests of this module). */
export function openNamespaces() {
  return listNamespaces().filter((n) => n.startsWith(`${PREFIX}${process.pid}-`));
}

// A failed assertion or an interrupted runner still removes everything (the harness's own exit
// handler kills the processes it started).
process.on('exit', () => {
  for (const net of [...open]) net.destroySync();
});
