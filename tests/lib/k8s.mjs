// k8s.mjs - renders packaging/k8s/ offline and checks what comes out, without a cluster.
//
// render(dir): a kustomize renderer for exactly the features packaging/k8s uses (resources as
// files or directories, namespace, namePrefix/nameSuffix, labels with includeSelectors and
// includeTemplates, patches as strategic merges with a kind/name target, images). Any other
// key of a kustomization is refused, so a manifest change that needs more fails loudly here
// instead of rendering wrongly. Debian 12 has no kustomize of its own (kubernetes-client 1.20
// embeds kustomize v2.0.3, which predates `labels` and `patches`); where a kubectl with a
// kustomize of v4 or later is on PATH, tests/packaging/k8s.test.mjs renders with it too and
// compares the two.
//
// schemaProblems(obj): validation against the Kubernetes API's OpenAPI schemas as compiled by
// the npm package kubernetes-models (types, formats, required fields, enums), plus a strict walk
// over the property names its type declarations list, so an unknown or misspelt field is an
// error too (as kubeconform -strict and `kubectl apply --validate=strict` have it).
//
// stampedeProblems(objs, { location }): what Stampede's manifests must hold beyond the schema.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { parseAllDocuments } from 'yaml';

const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'namePrefix', 'nameSuffix',
  'labels', 'resources', 'patches', 'images']);
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding',
  'CustomResourceDefinition', 'PersistentVolume', 'StorageClass']);

function readYaml(file) {
  const docs = parseAllDocuments(fs.readFileSync(file, 'utf8'));
  const out = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
    const v = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

const clone = (v) => structuredClone(v);
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * A strategic merge of patch into target, for what our patches use: maps merge key by key,
 * lists of objects with a `name` merge by name (containers, env, ports, volumes), other lists
 * are replaced, and null deletes.
 */
export function strategicMerge(target, patch) {
  if (!isObj(target) || !isObj(patch)) return clone(patch);
  const out = { ...target };
  for (const [k, pv] of Object.entries(patch)) {
    if (pv === null) { delete out[k]; continue; }
    const tv = out[k];
    if (Array.isArray(pv) && Array.isArray(tv) && pv.every((e) => isObj(e) && 'name' in e) &&
        tv.every((e) => isObj(e) && 'name' in e)) {
      const merged = tv.map((e) => clone(e));
      for (const pe of pv) {
        const i = merged.findIndex((e) => e.name === pe.name);
        if (i >= 0) merged[i] = strategicMerge(merged[i], pe);
        else merged.push(clone(pe));
      }
      out[k] = merged;
    } else if (isObj(pv) && isObj(tv)) {
      out[k] = strategicMerge(tv, pv);
    } else {
      out[k] = clone(pv);
    }
  }
  return out;
}

function addLabels(obj, pairs, { includeSelectors, includeTemplates }) {
  obj.metadata.labels = { ...(obj.metadata.labels || {}), ...pairs };
  const spec = obj.spec;
  if (!spec) return;
  if (obj.kind === 'Service') {
    if (includeSelectors) spec.selector = { ...(spec.selector || {}), ...pairs };
    return;
  }
  if (obj.kind === 'NetworkPolicy') {
    if (includeSelectors) {
      spec.podSelector = spec.podSelector || {};
      spec.podSelector.matchLabels = { ...(spec.podSelector.matchLabels || {}), ...pairs };
    }
    return;
  }
  if (!WORKLOADS.has(obj.kind)) return;
  if (includeSelectors) {
    spec.selector = spec.selector || {};
    spec.selector.matchLabels = { ...(spec.selector.matchLabels || {}), ...pairs };
    for (const c of spec.template?.spec?.topologySpreadConstraints || []) {
      if (c.labelSelector) c.labelSelector.matchLabels = { ...(c.labelSelector.matchLabels || {}), ...pairs };
    }
  }
  if ((includeSelectors || includeTemplates) && spec.template) {
    spec.template.metadata = spec.template.metadata || {};
    spec.template.metadata.labels = { ...(spec.template.metadata.labels || {}), ...pairs };
    // kustomize labels a StatefulSet's volume claims as templates too.
    for (const v of spec.volumeClaimTemplates || []) {
      v.metadata = v.metadata || {};
      v.metadata.labels = { ...(v.metadata.labels || {}), ...pairs };
    }
  }
}

function setImages(obj, images) {
  const pod = obj.spec?.template?.spec;
  if (!pod) return;
  for (const c of [...(pod.containers || []), ...(pod.initContainers || [])]) {
    const name = c.image.replace(/[@:][^/]*$/, '');
    const img = images.find((i) => i.name === name);
    if (!img) continue;
    c.image = `${img.newName || name}${img.newTag !== undefined ? `:${img.newTag}` : ''}`;
  }
}

/**
 * Renders the kustomization in dir; returns the objects (each with a hidden `_origName`, the
 * name before any prefix or suffix, for patch targets). Throws on what it does not support.
 */
export function render(dir) {
  const kfile = path.join(dir, 'kustomization.yaml');
  if (!fs.existsSync(kfile)) throw new Error(`${dir}: no kustomization.yaml`);
  const [k] = readYaml(kfile);
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_KEYS.has(key)) {
      throw new Error(`${kfile}: '${key}' is not supported by the test renderer (tests/lib/k8s.mjs)`);
    }
  }
  let objs = [];
  for (const r of k.resources || []) {
    const p = path.resolve(dir, r);
    if (fs.statSync(p).isDirectory()) {
      objs.push(...render(p));
    } else {
      for (const o of readYaml(p)) {
        Object.defineProperty(o, '_origName', { value: o.metadata?.name, writable: true });
        objs.push(o);
      }
    }
  }
  for (const p of k.patches || []) {
    const patch = p.path ? readYaml(path.resolve(dir, p.path))[0] : readYaml_str(p.patch);
    const t = p.target || { kind: patch.kind, name: patch.metadata?.name };
    let hits = 0;
    objs = objs.map((o) => {
      if ((t.kind && o.kind !== t.kind) ||
          (t.name && o.metadata.name !== t.name && o._origName !== t.name)) return o;
      hits++;
      const body = clone(patch);
      delete body.metadata; // names the target only
      const merged = strategicMerge(o, body);
      Object.defineProperty(merged, '_origName', { value: o._origName, writable: true });
      return merged;
    });
    if (!hits) throw new Error(`${kfile}: a patch matches nothing (${JSON.stringify(t)})`);
  }
  for (const o of objs) {
    if (k.namespace && !CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
    if ((k.namePrefix || k.nameSuffix) && o.kind !== 'Namespace') {
      o.metadata.name = `${k.namePrefix || ''}${o.metadata.name}${k.nameSuffix || ''}`;
    }
    for (const l of k.labels || []) addLabels(o, l.pairs, l);
    if (k.images) setImages(o, k.images);
  }
  return objs;
}

function readYaml_str(text) {
  const docs = parseAllDocuments(text);
  if (docs[0].errors.length) throw new Error(`an inline patch: ${docs[0].errors[0].message}`);
  return docs[0].toJS();
}

/** Objects with the lists of named items sorted by name: kustomize may reorder env. */
export function canonical(v) {
  if (Array.isArray(v)) {
    const items = v.map(canonical);
    if (items.every((e) => isObj(e) && typeof e.name === 'string')) {
      items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }
    return items;
  }
  if (isObj(v)) {
    const out = {};
    for (const key of Object.keys(v).sort()) out[key] = canonical(v[key]);
    return out;
  }
  return v;
}

/** Parses the YAML stream that `kubectl kustomize` prints. */
export function parseStream(text) {
  return parseAllDocuments(text).map((d) => d.toJS()).filter((v) => v != null);
}

// ---- schemas ----

const require = createRequire(import.meta.url);
const modelsDir = path.dirname(require.resolve('kubernetes-models/package.json'));
const apimachineryDir = path.dirname(require.resolve('@kubernetes-models/apimachinery/package.json'));

let typeTable = null;
/**
 * interface name (the global alias, IIoK8sApiCoreV1Container, and the kind's, IDeployment of
 * apps/v1) -> { prop: type text } from the packages' .d.ts files.
 */
function types() {
  if (typeTable) return typeTable;
  typeTable = new Map();
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== '_schemas' && e.name !== 'node_modules') walk(p);
      } else if (e.name.endsWith('.d.ts')) {
        parseDts(p);
      }
    }
  };
  const parseDts = (file) => {
    const text = fs.readFileSync(file, 'utf8');
    const local = new Map();
    for (const m of text.matchAll(/^export interface (\w+)[^{\n]*\{\n([\s\S]*?)^\}/gm)) {
      const props = {};
      const lines = m[2].split('\n');
      for (let i = 0; i < lines.length; i++) {
        const pm = /^ {4}"([^"]+)"\??: (.*)$/.exec(lines[i]);
        if (!pm) continue;
        let t = pm[2];
        if (t === '{') { // a map: the next line gives its values
          const vm = /^\s+\[key: string\]: (.*);$/.exec(lines[i + 1] || '');
          t = vm ? `Map<${vm[1]}>` : 'unknown';
        } else {
          t = t.replace(/;$/, '');
        }
        props[pm[1]] = t;
      }
      local.set(m[1], props);
    }
    for (const m of text.matchAll(/^export type \{ (\w+) as (\w+)/gm)) {
      if (local.has(m[1])) typeTable.set(m[2], local.get(m[1]));
    }
    const rel = path.relative(modelsDir, file);
    if (!rel.startsWith('..')) {
      // The kind's own interface, e.g. apps/v1/Deployment.d.ts -> IDeployment.
      const kind = path.basename(file, '.d.ts');
      if (local.has(`I${kind}`)) typeTable.set(`${path.dirname(rel)}/${kind}`, local.get(`I${kind}`));
    }
  };
  walk(modelsDir);
  walk(apimachineryDir);
  return typeTable;
}

function unknownFields(value, type, at, out) {
  const arr = /^Array<(.*)>$/.exec(type);
  if (arr) {
    if (Array.isArray(value)) value.forEach((v, i) => unknownFields(v, arr[1], `${at}[${i}]`, out));
    return;
  }
  const map = /^Map<(.*)>$/.exec(type);
  if (map) {
    if (isObj(value)) for (const [k, v] of Object.entries(value)) unknownFields(v, map[1], `${at}.${k}`, out);
    return;
  }
  const props = types().get(type);
  if (!props || !isObj(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (!(k in props)) out.push(`${at}: unknown field '${k}'`);
    else unknownFields(v, props[k], `${at}.${k}`, out);
  }
}

function modelPath(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  return group ? `${group}/${version}/${kind}` : `${version}/${kind}`;
}

/** Problems of one object against the Kubernetes API schemas ([] when it is valid). */
export async function schemaProblems(obj) {
  const where = `${obj?.kind}/${obj?.metadata?.name}`;
  if (!obj?.apiVersion || !obj?.kind) return [`${where}: no apiVersion or kind`];
  const mp = modelPath(obj.apiVersion, obj.kind);
  let mod;
  try {
    mod = await import(`kubernetes-models/${mp}`);
  } catch {
    return [`${where}: ${obj.apiVersion} ${obj.kind} is not a Kubernetes API kind`];
  }
  const Model = mod[obj.kind];
  const out = [];
  try {
    new Model(clone(obj)).validate();
  } catch (e) {
    out.push(`${where}: ${e.message}`);
  }
  const top = types().get(mp);
  if (!top) out.push(`${where}: no type declarations for ${mp}`);
  else unknownFields(obj, mp, where, out);
  return out;
}

// ---- what Stampede's manifests must hold ----

const subset = (a, b) => Object.entries(a || {}).every(([k, v]) => b && b[k] === v);

function envOf(container) {
  return Object.fromEntries((container.env || []).map((e) => [e.name, e]));
}

/**
 * Problems beyond the schema, for the objects one kustomization renders. location: the
 * location an agent overlay must carry (undefined for the server).
 */
export function stampedeProblems(objs, { location } = {}) {
  const out = [];
  const workloads = objs.filter((o) => WORKLOADS.has(o.kind));
  for (const w of workloads) {
    const where = `${w.kind}/${w.metadata.name}`;
    const sel = w.spec?.selector?.matchLabels;
    const tl = w.spec?.template?.metadata?.labels;
    if (!sel || !Object.keys(sel).length) out.push(`${where}: an empty selector`);
    else if (!subset(sel, tl)) {
      out.push(`${where}: the selector ${JSON.stringify(sel)} does not match the template's labels ${JSON.stringify(tl)}`);
    }
    for (const c of w.spec?.template?.spec?.topologySpreadConstraints || []) {
      if (!subset(c.labelSelector?.matchLabels, tl)) out.push(`${where}: a topology spread selector matches none of its pods`);
    }
  }
  for (const s of objs.filter((o) => o.kind === 'Service')) {
    const targets = workloads.filter((w) => subset(s.spec?.selector, w.spec?.template?.metadata?.labels));
    if (!s.spec?.selector || !targets.length) {
      out.push(`Service/${s.metadata.name}: its selector matches no workload`);
      continue;
    }
    for (const t of targets) {
      if (t.spec.template.metadata.labels['app.kubernetes.io/component'] === 'agent') {
        out.push(`Service/${s.metadata.name}: selects agents, which never listen on a port`);
      }
      const ports = t.spec.template.spec.containers.flatMap((c) => c.ports || []);
      for (const p of s.spec.ports || []) {
        if (typeof p.targetPort === 'string' && !ports.some((cp) => cp.name === p.targetPort)) {
          out.push(`Service/${s.metadata.name}: targetPort '${p.targetPort}' is no container port of ${t.metadata.name}`);
        }
      }
    }
  }
  const agents = workloads.filter((w) => w.spec?.template?.metadata?.labels?.['app.kubernetes.io/component'] === 'agent');
  const servers = workloads.filter((w) => w.spec?.template?.metadata?.labels?.['app.kubernetes.io/component'] === 'server');
  if (location !== undefined) {
    if (agents.length !== 1) out.push(`location ${location}: ${agents.length} agent workloads, want 1`);
    for (const a of agents) {
      const where = `${a.kind}/${a.metadata.name}`;
      if (a.kind !== 'Deployment') out.push(`${where}: agents are a Deployment (scaled with kubectl scale)`);
      if (a.metadata.name !== `stampede-agent-${location}`) out.push(`${where}: want the name stampede-agent-${location}`);
      for (const [what, labels] of [['metadata', a.metadata.labels], ['selector', a.spec.selector?.matchLabels],
        ['template', a.spec.template?.metadata?.labels]]) {
        if (labels?.['stampede.dev/location'] !== location) {
          out.push(`${where}: ${what} label stampede.dev/location is '${labels?.['stampede.dev/location']}', want '${location}'`);
        }
      }
      const cs = a.spec.template.spec.containers;
      const c = cs.find((x) => (x.args || []).includes('agent'));
      if (!c) { out.push(`${where}: no container runs 'stampede agent'`); continue; }
      const env = envOf(c);
      const args = c.args;
      const li = args.indexOf('--location');
      const locArg = li >= 0 ? args[li + 1] : undefined;
      const resolved = locArg === '$(STAMPEDE_LOCATION)' ? env.STAMPEDE_LOCATION?.value : locArg;
      if (resolved !== location) out.push(`${where}: the agents announce location '${resolved}', want '${location}'`);
      const si = args.indexOf('--server');
      if (si < 0 || !args[si + 1]) out.push(`${where}: no --server`);
      if (args.includes('--token')) out.push(`${where}: the token is on the command line (visible in ps); use STAMPEDE_AGENT_TOKEN`);
      const tok = env.STAMPEDE_AGENT_TOKEN?.valueFrom?.secretKeyRef;
      if (!tok?.name || !tok?.key) out.push(`${where}: STAMPEDE_AGENT_TOKEN does not come from a Secret`);
      if (cs.some((x) => (x.ports || []).length)) out.push(`${where}: an agent declares a port; agents never listen`);
      // A NetworkPolicy that selects these pods and lets nothing in.
      const tl = a.spec.template.metadata.labels;
      const np = objs.filter((o) => o.kind === 'NetworkPolicy' && subset(o.spec?.podSelector?.matchLabels, tl));
      if (!np.length) out.push(`${where}: no NetworkPolicy closes the agents to incoming connections`);
      for (const p of np) {
        if (!(p.spec.policyTypes || []).includes('Ingress') || (p.spec.ingress || []).length) {
          out.push(`NetworkPolicy/${p.metadata.name}: lets connections in to the agents`);
        }
      }
    }
  } else {
    if (servers.length !== 1) out.push(`${servers.length} server workloads, want 1`);
    for (const s of servers) {
      const where = `${s.kind}/${s.metadata.name}`;
      if (s.spec.replicas !== 1) out.push(`${where}: replicas ${s.spec.replicas}; the server is one replica (SQLite on its volume)`);
      const c = s.spec.template.spec.containers[0];
      for (const probe of ['startupProbe', 'readinessProbe']) {
        if (c[probe]?.httpGet?.path !== '/api/v1/health') out.push(`${where}: the ${probe} does not ask /api/v1/health`);
      }
      const names = new Set((c.ports || []).map((p) => p.containerPort));
      if (!names.has(8484) || !names.has(8485)) out.push(`${where}: the container does not declare 8484 and 8485`);
      const mounts = (c.volumeMounts || []).filter((m) => m.mountPath === '/var/lib/stampede');
      const claims = (s.spec.volumeClaimTemplates || []).map((v) => v.metadata.name);
      if (!mounts.length || !claims.includes(mounts[0].name)) out.push(`${where}: /var/lib/stampede is not on a persistent volume claim`);
    }
  }
  return out;
}

/** Problems across overlays applied to one namespace: two agent Deployments sharing pods. */
export function overlapProblems(objsByOverlay) {
  const out = [];
  const all = Object.entries(objsByOverlay).flatMap(([ov, objs]) =>
    objs.filter((o) => WORKLOADS.has(o.kind)).map((o) => ({ ov, o })));
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i].o, b = all[j].o;
      if ((a.metadata.namespace || '') !== (b.metadata.namespace || '')) continue;
      if (a.kind === b.kind && a.metadata.name === b.metadata.name) {
        out.push(`${all[i].ov} and ${all[j].ov} both make ${a.kind}/${a.metadata.name}`);
      } else if (subset(a.spec.selector?.matchLabels, b.spec.template?.metadata?.labels) ||
                 subset(b.spec.selector?.matchLabels, a.spec.template?.metadata?.labels)) {
        out.push(`${a.kind}/${a.metadata.name} (${all[i].ov}) and ${b.kind}/${b.metadata.name} (${all[j].ov}) select each other's pods`);
      }
    }
  }
  return out;
}
