// k8s.test.mjs - packaging/k8s/ rendered offline (no cluster) for the server and every location
// overlay, each object validated against the Kubernetes API schemas (kubernetes-models, strict
// about unknown fields) and against what Stampede needs (selectors that match their pods, the
// location an overlay's agents announce, the token from a Secret, the health probes, the data on
// a volume claim). Then the same checks run on broken copies of the tree, to show that each kind
// of mistake is caught. The renderer is tests/lib/k8s.mjs; where kubectl with a kustomize of v4
// or later is installed, its rendering must equal ours.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { SOURCE_DIR } from '../lib/harness.mjs';
import { render, schemaProblems, stampedeProblems, overlapProblems, canonical, parseStream } from '../lib/k8s.mjs';

const K8S = path.join(SOURCE_DIR, 'packaging/k8s');
const SERVER = 'base/server';
const overlays = () => fs.readdirSync(path.join(K8S, 'overlays')).sort();

/** Every problem of the kustomization at rel under root ([] when all is well). */
async function problems(root, rel) {
  let objs;
  try {
    objs = render(path.join(root, rel));
  } catch (e) {
    return [`${rel}: ${e.message}`];
  }
  const out = [];
  for (const o of objs) out.push(...await schemaProblems(o));
  const location = rel.startsWith('overlays/') ? path.basename(rel) : undefined;
  out.push(...stampedeProblems(objs, { location }));
  return out;
}

/** A copy of packaging/k8s with one file's text changed (the change must apply). */
function brokenCopy(file, from, to) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stampede-k8s-'));
  fs.cpSync(K8S, dir, { recursive: true });
  const p = path.join(dir, file);
  const text = fs.readFileSync(p, 'utf8');
  assert.ok(text.includes(from), `${file} no longer contains ${JSON.stringify(from)}: update the test`);
  fs.writeFileSync(p, text.replace(from, to));
  return dir;
}

/** `kubectl kustomize`'s version when it is v4 or later, else null. */
function realKustomize() {
  try {
    const v = execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 20000 });
    const m = /Kustomize Version: v(\d+)/.exec(v);
    return m && Number(m[1]) >= 4 ? m[0] : null;
  } catch {
    return null;
  }
}

describe('packaging/k8s', () => {
  test('there is an overlay per location, at least two, and the server', () => {
    assert.ok(overlays().length >= 2, `overlays: ${overlays()}`);
    assert.ok(fs.existsSync(path.join(K8S, SERVER, 'kustomization.yaml')));
  });

  test('the server renders, and every object is valid', async () => {
    const objs = render(path.join(K8S, SERVER));
    assert.deepEqual(objs.map((o) => o.kind).sort(), ['Service', 'StatefulSet']);
    assert.deepEqual(await problems(K8S, SERVER), []);
  });

  test('every location overlay renders one agent Deployment, valid, with its location', async () => {
    const byOverlay = {};
    for (const ov of overlays()) {
      const rel = `overlays/${ov}`;
      assert.deepEqual(await problems(K8S, rel), [], rel);
      byOverlay[rel] = render(path.join(K8S, rel));
      // No Service, no port: agents only connect out, and a NetworkPolicy lets nothing in.
      assert.deepEqual(byOverlay[rel].map((o) => o.kind).sort(), ['Deployment', 'NetworkPolicy'], rel);
    }
    // All overlays and the server applied to one namespace do not fight over pods.
    byOverlay.server = render(path.join(K8S, SERVER));
    assert.deepEqual(overlapProblems(byOverlay), []);
  });

  test('the pods run as the image\'s user, with the data on the image\'s volume', () => {
    const cf = fs.readFileSync(path.join(SOURCE_DIR, 'packaging/Containerfile'), 'utf8');
    const uid = Number(/useradd [^\n]*--uid (\d+)/.exec(cf)?.[1]);
    const gid = Number(/groupadd [^\n]*--gid (\d+)/.exec(cf)?.[1]);
    assert.ok(uid > 0 && gid > 0, 'the Containerfile fixes the user\'s uid and gid');
    const volume = JSON.parse(/^VOLUME (.*)$/m.exec(cf)[1]);
    const pods = [render(path.join(K8S, SERVER)), ...overlays().map((o) => render(path.join(K8S, 'overlays', o)))]
      .flat().filter((o) => o.spec?.template);
    for (const w of pods) {
      const sc = w.spec.template.spec.securityContext;
      assert.equal(sc.runAsUser, uid, `${w.metadata.name}: runAsUser`);
      assert.equal(sc.runAsGroup, gid, `${w.metadata.name}: runAsGroup`);
      assert.equal(sc.runAsNonRoot, true);
    }
    const server = pods.find((w) => w.kind === 'StatefulSet');
    assert.equal(server.spec.template.spec.securityContext.fsGroup, gid);
    assert.ok(server.spec.template.spec.containers[0].volumeMounts.some((m) => m.mountPath === volume[0]));
  });

  const kustomize = realKustomize();
  test('kubectl kustomize renders the same objects as the test renderer',
    { skip: kustomize ? false : 'no kubectl with kustomize v4+ on PATH (Debian 12 has none); the test renderer alone is used' },
    () => {
      for (const rel of [SERVER, ...overlays().map((o) => `overlays/${o}`)]) {
        const out = execFileSync('kubectl', ['kustomize', path.join(K8S, rel)], { encoding: 'utf8', timeout: 60000 });
        const theirs = parseStream(out).map(canonical);
        const ours = render(path.join(K8S, rel)).map((o) => canonical(JSON.parse(JSON.stringify(o))));
        const key = (o) => `${o.kind}/${o.metadata.name}`;
        theirs.sort((a, b) => key(a).localeCompare(key(b)));
        ours.sort((a, b) => key(a).localeCompare(key(b)));
        assert.deepEqual(ours, theirs, `${rel} (${kustomize})`);
      }
    });

  describe('broken copies are caught', () => {
    const cases = [
      { what: 'a wrong field type (replicas as a string)', file: 'base/agent/deployment.yaml',
        from: 'replicas: 2', to: 'replicas: "two"', rel: 'overlays/eu-west', want: /replicas must be integer/ },
      { what: 'a misspelt field', file: 'base/server/statefulset.yaml',
        from: 'containerPort: 8485', to: 'containerPorts: 8485', rel: SERVER, want: /unknown field 'containerPorts'/ },
      { what: 'a selector that does not match its template labels', file: 'base/agent/deployment.yaml',
        from: '      labels:\n        app.kubernetes.io/name: stampede\n        app.kubernetes.io/component: agent',
        to: '      labels:\n        app.kubernetes.io/name: stampede\n        app.kubernetes.io/component: agents',
        rel: 'overlays/us-east', want: /selector .* does not match the template's labels/ },
      { what: 'an overlay whose agents carry the wrong location', file: 'overlays/us-east/kustomization.yaml',
        from: 'value: us-east', to: 'value: eu-west', rel: 'overlays/us-east',
        want: /announce location 'eu-west', want 'us-east'/ },
      { what: 'an overlay whose labels name the wrong location', file: 'overlays/eu-west/kustomization.yaml',
        from: 'stampede.dev/location: eu-west', to: 'stampede.dev/location: us-east', rel: 'overlays/eu-west',
        want: /label stampede.dev\/location is 'us-east', want 'eu-west'/ },
      { what: 'the token given on the command line instead of from the Secret', file: 'base/agent/deployment.yaml',
        from: '            - --name\n', to: '            - --token\n            - abc\n            - --name\n',
        rel: 'overlays/eu-west', want: /token is on the command line/ },
      { what: 'a health probe on the wrong path', file: 'base/server/statefulset.yaml',
        from: 'path: /api/v1/health', to: 'path: /healthz', rel: SERVER, want: /startupProbe does not ask/ },
      { what: 'a Service port aimed at no container port', file: 'base/server/service.yaml',
        from: 'targetPort: live', to: 'targetPort: websocket', rel: SERVER, want: /targetPort 'websocket'/ },
      { what: 'a NetworkPolicy that lets connections in to the agents', file: 'base/agent/networkpolicy.yaml',
        from: '    - Ingress\n', to: '    - Ingress\n  ingress:\n    - {}\n', rel: 'overlays/eu-west',
        want: /lets connections in to the agents/ },
      { what: 'a NetworkPolicy that selects no agent', file: 'base/agent/networkpolicy.yaml',
        from: 'app.kubernetes.io/component: agent', to: 'app.kubernetes.io/component: agnet', rel: 'overlays/eu-west',
        want: /no NetworkPolicy closes the agents/ },
      { what: 'a kustomization feature the renderer does not know', file: 'overlays/eu-west/kustomization.yaml',
        from: 'nameSuffix:', to: 'replicas: []\nnameSuffix:', rel: 'overlays/eu-west', want: /'replicas' is not supported/ },
    ];
    for (const c of cases) {
      test(c.what, async () => {
        const dir = brokenCopy(c.file, c.from, c.to);
        try {
          const got = await problems(dir, c.rel);
          assert.ok(got.some((p) => c.want.test(p)), `want ${c.want}, got:\n${got.join('\n')}`);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    }

    test('two overlays of one location (the same selector) are caught', async () => {
      const dir = brokenCopy('overlays/us-east/kustomization.yaml', 'nameSuffix: -us-east', 'nameSuffix: -eu-west');
      try {
        const sameLabels = brokenCopy('overlays/us-east/kustomization.yaml', 'stampede.dev/location: us-east',
                                      'stampede.dev/location: eu-west');
        try {
          const a = overlapProblems({ eu: render(path.join(K8S, 'overlays/eu-west')),
            us: render(path.join(dir, 'overlays/us-east')) });
          assert.ok(a.some((p) => /both make Deployment\/stampede-agent-eu-west/.test(p)), a.join('\n'));
          const b = overlapProblems({ eu: render(path.join(K8S, 'overlays/eu-west')),
            us: render(path.join(sameLabels, 'overlays/us-east')) });
          assert.ok(b.some((p) => /select each other's pods/.test(p)), b.join('\n'));
        } finally {
          fs.rmSync(sameLabels, { recursive: true, force: true });
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
