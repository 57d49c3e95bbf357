// harness.mjs - starts real processes on free loopback ports for integration tests, and always
// stops them: on normal exit, on a failed assertion and on SIGINT/SIGTERM of the test runner.
import { spawn } from 'node:child_process';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const STAMPEDE_BIN = process.env.STAMPEDE_BIN || 'build/server/stampede';
export const SHOP_API_BIN = process.env.SHOP_API_BIN || 'build/examples/shop-api/shop-api';
export const SOURCE_DIR = process.env.SP_SOURCE_DIR || path.resolve(import.meta.dirname, '../..');
export const ARTIFACTS = process.env.SP_ARTIFACTS || path.join(SOURCE_DIR, 'tests/artifacts');

const live = new Set();
function killAll() {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { killAll(); process.exit(130); });

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A new empty temporary directory, removed when the process exits. */
export function tempDir(prefix = 'stampede-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts bin with args and waits until readyUrl answers any HTTP status (or timeoutMs passes).
 * Returns { proc, stdout(), stderr(), stop(signal) }; stop waits for the exit and returns its code.
 */
export async function startProcess(bin, args, { readyUrl, env = {}, timeoutMs = 10000, cwd } = {}) {
  const proc = spawn(bin, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '', err = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    live.delete(proc);
    resolve(code === null ? 128 + (os.constants.signals[signal] || 0) : code);
  }));
  let exitCode = null;
  exited.then((c) => { exitCode = c; });
  const handle = {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (exitCode !== null) return exitCode;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  if (readyUrl) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exitCode !== null) throw new Error(`${bin} exited with ${exitCode} before it was ready:\n${err}${out}`);
      try {
        await fetch(readyUrl, { signal: AbortSignal.timeout(1000) });
        break;
      } catch {
        if (Date.now() > deadline) {
          await handle.stop('SIGKILL');
          throw new Error(`${bin} did not answer ${readyUrl} within ${timeoutMs} ms:\n${err}${out}`);
        }
        await sleep(50);
      }
    }
  }
  return handle;
}

/** Starts the demo shop API on a free port. Returns the handle plus { port, url }. */
export async function startShop(extraArgs = []) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const h = await startProcess(SHOP_API_BIN, ['--port', String(port), ...extraArgs],
                               { readyUrl: `${url}/__stats` });
  return Object.assign(h, { port, url });
}

/**
 * Runs bin to completion (killed after timeoutMs) and returns { code, stdout, stderr }.
 */
export function run(bin, args, { env = {}, timeoutMs = 60000, cwd, input } = {}) {
  return new Promise((resolve) => {
    const proc = spawn(bin, args, { env: { ...process.env, ...env }, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(proc);
    let stdout = '', stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(t);
      live.delete(proc);
      resolve({ code: code === null ? 128 + (os.constants.signals[signal] || 0) : code, signal, stdout, stderr });
    });
    if (input !== undefined) proc.stdin.end(input); else proc.stdin.end();
  });
}

/** Spawns bin and returns { proc, done } where done resolves like run(); for signal tests. */
export function spawnRun(bin, args, { env = {}, timeoutMs = 60000, cwd } = {}) {
  const proc = spawn(bin, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let stdout = '', stderr = '';
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  const done = new Promise((resolve) => {
    const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(t);
      live.delete(proc);
      resolve({ code: code === null ? 128 + (os.constants.signals[signal] || 0) : code, signal, stdout, stderr });
    });
  });
  return { proc, done, stdout: () => stdout, stderr: () => stderr };
}

export { sleep };
