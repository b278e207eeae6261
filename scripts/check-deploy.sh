#!/usr/bin/env bash
# Static checks of the deploy files (no Docker engine or Kubernetes cluster needed):
#   1. yamllint (relaxed, line-length off) over docker-compose*.yml and k8s/
#   2. a schema check with PyYAML: required keys per Kubernetes kind, every container with probes and
#      resources, selectors matching labels, Services/HPA/PDB/Ingress pointing at what exists; compose
#      services with image/build, depends_on naming real services with valid conditions, healthchecks
#      where a condition waits for one; the Dockerfile's stages, user, HEALTHCHECK and ENTRYPOINT
#   3. bash -n over the shell scripts
#   4. nginx -t on deploy/nginx.conf as local-cluster.sh fills it in (when nginx is installed)
#   5. kubectl kustomize k8s/ (when kubectl is installed), systemd-analyze verify (when available)
# yamllint, PyYAML and nginx come from Debian's packages (scripts/install-deps.sh, run here when one is missing).
# Exits non-zero with a "check-deploy: FAIL …" line.
set -uo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check-deploy: FAIL $*"; exit 1; }
ok() { echo "check-deploy: ok   $*"; }
TMP=$(mktemp -d /tmp/check-deploy.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

for f in Dockerfile .dockerignore docker-compose.yml docker-compose.cluster.yml deploy/nginx.conf deploy/local-cluster.sh \
  deploy/systemd/chainfeed-ingest.service deploy/systemd/chainfeed-serve.service; do
  [ -e "$f" ] || fail "$f is missing"
done
ls k8s/*.yaml >/dev/null 2>&1 || fail "no manifests in k8s/"

# The tools: Debian's yamllint, and a python3 that has PyYAML (the first python3 on PATH, else Debian's own).
YAMLLINT= PY=
find_tools() {
  if [ -x /usr/bin/yamllint ]; then YAMLLINT=/usr/bin/yamllint
  elif command -v yamllint >/dev/null && yamllint --version >/dev/null 2>&1; then YAMLLINT=yamllint
  fi
  for PY in python3 /usr/bin/python3 ""; do
    [ -n "$PY" ] && "$PY" -c 'import yaml' >/dev/null 2>&1 && break
  done
  [ -n "$YAMLLINT" ] && [ -n "$PY" ]
}
if ! find_tools; then
  bash scripts/install-deps.sh >&2 || fail "yamllint or PyYAML missing and scripts/install-deps.sh could not install them"
  find_tools || fail "yamllint or PyYAML still missing after scripts/install-deps.sh (apt packages yamllint, python3-yaml)"
fi

# 1. yamllint
"$YAMLLINT" -f parsable -d '{extends: relaxed, rules: {line-length: disable}}' docker-compose*.yml k8s >"$TMP/lint" 2>&1
if grep -q '\[error\]' "$TMP/lint"; then
  grep '\[error\]' "$TMP/lint" | head -5
  fail "yamllint: $(grep -m1 '\[error\]' "$TMP/lint")"
fi
ok "yamllint (relaxed): docker-compose*.yml k8s/ ($(grep -c '\[warning\]' "$TMP/lint") warnings)"

# 2. schema
"$PY" - <<'PY' || fail "schema check (see the lines above)"
import glob, re, sys, yaml

errors = []
def err(msg): errors.append(msg)

# ---- Kubernetes ----
REQUIRED = {
    "Namespace": ["metadata.name"],
    "ConfigMap": ["metadata.name", "data"],
    "Secret": ["metadata.name"],
    "Deployment": ["metadata.name", "spec.replicas", "spec.selector.matchLabels", "spec.template.metadata.labels", "spec.template.spec.containers"],
    "Service": ["metadata.name", "spec.selector", "spec.ports"],
    "HorizontalPodAutoscaler": ["metadata.name", "spec.scaleTargetRef.name", "spec.minReplicas", "spec.maxReplicas", "spec.metrics"],
    "PodDisruptionBudget": ["metadata.name", "spec.selector.matchLabels"],
    "Ingress": ["metadata.name", "spec.rules"],
    "Job": ["metadata.name", "spec.template.spec.containers", "spec.template.spec.restartPolicy"],
    "Kustomization": ["resources"],
}
API = {"Deployment": "apps/v1", "HorizontalPodAutoscaler": "autoscaling/v2", "PodDisruptionBudget": "policy/v1",
       "Ingress": "networking.k8s.io/v1", "Job": "batch/v1", "Service": "v1", "ConfigMap": "v1", "Secret": "v1", "Namespace": "v1"}

def get(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d: return None
        d = d[k]
    return d

docs = []
for f in sorted(glob.glob("k8s/**/*.y*ml", recursive=True)):
    try:
        for doc in yaml.safe_load_all(open(f)):
            if doc: docs.append((f, doc))
    except yaml.YAMLError as e:
        err(f"{f}: {e}")
kinds = {}
for f, d in docs:
    kind = d.get("kind")
    if kind is None: err(f"{f}: a document without kind"); continue
    kinds.setdefault(kind, []).append((f, d))
    if kind in API and d.get("apiVersion") != API[kind]:
        err(f"{f}: {kind} apiVersion {d.get('apiVersion')!r}, want {API[kind]}")
    for path in REQUIRED.get(kind, []):
        if get(d, path) in (None, [], {}) and get(d, path) != 0:
            err(f"{f}: {kind} {get(d, 'metadata.name')} lacks {path}")

need = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress", "Job", "ConfigMap"}
if need - set(kinds): err(f"k8s/ lacks kinds {sorted(need - set(kinds))}")

pods = {}  # name -> template labels
for kind in ("Deployment", "Job"):
    for f, d in kinds.get(kind, []):
        name = get(d, "metadata.name")
        tpl = get(d, "spec.template") or {}
        labels = get(tpl, "metadata.labels") or {}
        if kind == "Deployment":
            pods[name] = labels
            sel = get(d, "spec.selector.matchLabels") or {}
            if any(labels.get(k) != v for k, v in sel.items()):
                err(f"{f}: Deployment {name} selector {sel} does not match its template labels {labels}")
            ann = get(tpl, "metadata.annotations") or {}
            if ann.get("prometheus.io/scrape") != "true" and name.startswith("chainfeed"):
                err(f"{f}: Deployment {name} lacks prometheus.io/scrape annotation")
            if name.startswith("chainfeed") and get(tpl, "spec.terminationGracePeriodSeconds") is None:
                err(f"{f}: Deployment {name} lacks terminationGracePeriodSeconds")
        for c in get(tpl, "spec.containers") or []:
            cn = f"{f}: {kind} {name} container {c.get('name')}"
            if not c.get("image"): err(f"{cn} has no image")
            res = c.get("resources") or {}
            if not res.get("requests") or not res.get("limits"): err(f"{cn} lacks resources requests/limits")
            if kind == "Deployment":
                for probe in ("readinessProbe", "livenessProbe"):
                    if not c.get(probe): err(f"{cn} lacks {probe}")
                if name == "chainfeed-web":
                    if get(c, "readinessProbe.httpGet.path") != "/ready": err(f"{cn} readiness is not /ready")
                    if get(c, "livenessProbe.httpGet.path") != "/health": err(f"{cn} liveness is not /health")
                    if not get(c, "lifecycle.preStop"): err(f"{cn} lacks a preStop hook (drain)")

def selects(sel):
    return any(all(labels.get(k) == v for k, v in sel.items()) for labels in pods.values())
for f, d in kinds.get("Service", []):
    if not selects(get(d, "spec.selector") or {}): err(f"{f}: Service {get(d, 'metadata.name')} selects no pod template")
for f, d in kinds.get("PodDisruptionBudget", []):
    if not selects(get(d, "spec.selector.matchLabels") or {}): err(f"{f}: PDB {get(d, 'metadata.name')} selects no pod template")
deployments = {get(d, "metadata.name") for _, d in kinds.get("Deployment", [])}
for f, d in kinds.get("HorizontalPodAutoscaler", []):
    if get(d, "spec.scaleTargetRef.name") not in deployments: err(f"{f}: HPA targets a missing Deployment")
services = {get(d, "metadata.name") for _, d in kinds.get("Service", [])}
for f, d in kinds.get("Ingress", []):
    for rule in get(d, "spec.rules") or []:
        for p in get(rule, "http.paths") or []:
            if get(p, "backend.service.name") not in services: err(f"{f}: Ingress backend {get(p, 'backend.service.name')} is no Service")
    ann = get(d, "metadata.annotations") or {}
    if int(ann.get("nginx.ingress.kubernetes.io/proxy-read-timeout", "60")) < 600:
        err(f"{f}: Ingress read timeout too short for WebSocket/SSE")

# ---- docker compose ----
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
for path in sorted(glob.glob("docker-compose*.yml")):
    c = yaml.safe_load(open(path))
    svcs = c.get("services") or {}
    if not svcs: err(f"{path}: no services"); continue
    for n, s in svcs.items():
        if not (s.get("image") or s.get("build")): err(f"{path}: service {n} has neither image nor build")
        dep = s.get("depends_on") or {}
        items = dep.items() if isinstance(dep, dict) else ((x, {}) for x in dep)
        for target, cond in items:
            if target not in svcs: err(f"{path}: {n} depends_on unknown service {target}"); continue
            cond = (cond or {}).get("condition", "service_started")
            if cond not in CONDITIONS: err(f"{path}: {n} depends_on {target} with unknown condition {cond}")
            if cond == "service_healthy":
                hc = svcs[target].get("healthcheck") or {}
                if not hc.get("test") or hc.get("disable"): err(f"{path}: {n} waits for {target} healthy but it has no healthcheck")
        # Long-running services need a healthcheck; one-shot ones (restart "no") do not.
        if s.get("restart") != "no" and not (s.get("healthcheck") or {}).get("test"):
            err(f"{path}: long-running service {n} has no healthcheck")
    if path == "docker-compose.yml":
        names = " ".join(svcs)
        for w in ("postgres", "redis"):
            if w not in names: err(f"{path}: no {w} service")
        lb = [n for n, s in svcs.items() if "nginx" in str(s.get("image", ""))]
        if not lb: err(f"{path}: no nginx load balancer")
        elif not any(str(p).endswith(":80") for p in svcs[lb[0]].get("ports", [])): err(f"{path}: load balancer publishes no :80")
        if sum(1 for s in svcs.values() if s.get("command") == ["serve"]) < 2: err(f"{path}: fewer than two web replicas")
        if sum(1 for s in svcs.values() if s.get("command") == ["ingest"]) < 2: err(f"{path}: no standby writer")

# ---- Dockerfile ----
df = open("Dockerfile").read()
stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", df, re.M | re.I)
if len(stages) < 2: err("Dockerfile: not multi-stage")
for needle, what in [(r"^USER\s+(?!root|0\b)", "a non-root USER"), (r"^HEALTHCHECK\s", "a HEALTHCHECK"),
                     (r'^ENTRYPOINT\s+\["chainfeed"\]', 'ENTRYPOINT ["chainfeed"]'),
                     (r"swift build -c release --product chainfeed --static-swift-stdlib", "the release build with the Swift runtime linked in"),
                     (r"libpq-dev", "libpq-dev in the build"), (r"libhiredis-dev", "libhiredis-dev in the build"),
                     (r"libpq5", "libpq5 at runtime"), (r"libhiredis0\.14", "libhiredis0.14 at runtime"),
                     (r"COPY\s+--from=", "a COPY from the build stage")]:
    if not re.search(needle, df, re.M): err(f"Dockerfile lacks {what}")

for e in errors: print("  " + e)
sys.exit(1 if errors else 0)
PY
ok "schema: k8s kinds, probes, resources, selectors; compose services and depends_on; Dockerfile"

# 3. shell syntax
for f in deploy/local-cluster.sh scripts/*.sh; do
  [ -e "$f" ] || continue
  bash -n "$f" 2>"$TMP/sh" || fail "bash -n $f: $(head -1 "$TMP/sh")"
done
ok "bash -n: deploy/local-cluster.sh scripts/*.sh"

# 4. the nginx template, filled in the way local-cluster.sh and compose do it
NGINX=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
if [ -n "$NGINX" ]; then
  mkdir -p "$TMP/nginx"
  sed -e "s|@PREFIX@|$TMP/nginx|g" -e "s|@ERROR_LOG@|$TMP/nginx/error.log|g" -e "s|@ACCESS_LOG@|$TMP/nginx/access.log|g" \
    -e "s|@LISTEN@|127.0.0.1:1|g" -e "s|@UPSTREAMS@|server 127.0.0.1:2 max_fails=2 fail_timeout=5s; server 127.0.0.1:3;|g" \
    deploy/nginx.conf >"$TMP/nginx/nginx.conf"
  left=$(grep -v '^[[:space:]]*#' "$TMP/nginx/nginx.conf" | grep -o '@[A-Z_]*@' | head -1 || true)
  [ -z "$left" ] || fail "deploy/nginx.conf has an unknown placeholder: $left"
  "$NGINX" -t -q -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx.out" 2>&1 \
    || fail "nginx -t deploy/nginx.conf: $(grep -m1 emerg "$TMP/nginx.out" || tail -1 "$TMP/nginx.out")"
  for want in 'proxy_set_header Upgrade' 'proxy_buffering off' 'proxy_read_timeout 3600s'; do
    grep -q "$want" deploy/nginx.conf || fail "deploy/nginx.conf lacks '$want'"
  done
  ok "nginx -t: deploy/nginx.conf"
else
  echo "check-deploy: skip nginx -t (nginx not installed)"
fi

# 5. kustomize and systemd, where the tools exist
if command -v kubectl >/dev/null; then
  kubectl kustomize k8s >"$TMP/k.yaml" 2>"$TMP/k.err" || fail "kubectl kustomize k8s: $(head -1 "$TMP/k.err")"
  kubectl kustomize k8s/overlays/dev >/dev/null 2>"$TMP/k.err" || fail "kubectl kustomize k8s/overlays/dev: $(head -1 "$TMP/k.err")"
  ok "kubectl kustomize: k8s/ ($(grep -c '^kind:' "$TMP/k.yaml") objects), k8s/overlays/dev/"
else
  echo "check-deploy: skip kustomize (kubectl not installed)"
fi
if command -v systemd-analyze >/dev/null; then
  # The units name /usr/local/bin/chainfeed; verify copies that point at an executable that exists here.
  mkdir -p "$TMP/systemd"
  for u in deploy/systemd/*.service; do sed "s|/usr/local/bin/chainfeed|/bin/true|g" "$u" >"$TMP/systemd/$(basename "$u")"; done
  systemd-analyze verify "$TMP"/systemd/*.service >"$TMP/sd" 2>&1
  if grep -v -E "Failed to (open|load) .*EnvironmentFile|/etc/chainfeed/chainfeed.env|not found, ignoring" "$TMP/sd" | grep -q .; then
    fail "systemd-analyze verify: $(grep -v /etc/chainfeed "$TMP/sd" | head -1)"
  fi
  grep -q '^Restart=always' deploy/systemd/chainfeed-serve.service || fail "chainfeed-serve.service lacks Restart=always"
  ok "systemd-analyze verify: deploy/systemd/*.service"
else
  echo "check-deploy: skip systemd-analyze (not installed)"
fi

echo "check-deploy: all deploy checks passed"
