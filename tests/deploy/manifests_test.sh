#!/usr/bin/env bash
# Every Kubernetes manifest in deploy/ checked offline against the Kubernetes
# OpenAPI schemas, strictly (no unknown field), with tools/k8s-validate:
#   - each kustomization renders (kubectl kustomize, when kubectl is there)
#     and every rendered object validates; the kind overlay with a CA from
#     `tetherctl ca init`, as deploy/kind/up.sh makes it;
#   - every resource a kustomization names exists, and every YAML file in
#     deploy/ validates on its own;
#   - what `tetherctl inject` makes of the sample app and of the injector's
#     fixtures validates too (native sidecar and fallback);
#   - the names that tie the pieces together agree;
#   - a broken copy of a manifest fails (the check can fail).
#   manifests_test.sh tetherctl tools/k8s-validate deploy tests/control/inject/testdata
set -uo pipefail
ctl=$(realpath "$1")
validator=$(realpath "$2")
deploy=$(realpath "$3")
fixtures=$(realpath "$4")
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/manifests-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# The validator's npm packages (pinned), installed once into the cache by
# tools/install-deps.sh k8s, or here if that has not run.
modules=$("$validator/install.sh") || {
  echo "FAIL: cannot install the validator's npm packages (node, npm and the npm registry needed)"
  exit 1
}
validate() { NODE_PATH="$modules/node_modules" node "$validator/validate.cjs" "$@"; }

# A working copy of deploy/ with the kind overlay's CA generated.
cp -rL "$deploy" "$tmp/deploy"
chmod -R u+w "$tmp/deploy"
"$ctl" ca init --out "$tmp/deploy/overlays/kind/cacerts" >/dev/null || fail "tetherctl ca init"

# Every resource and generator file a kustomization names exists.
# refs FILE: the paths a kustomization.yaml names, one a line.
refs() {
  NODE_PATH="$modules/node_modules" node -e '
    const k = require("yaml").parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const out = [...(k.resources || []), ...(k.components || [])];
    for (const g of [...(k.secretGenerator || []), ...(k.configMapGenerator || [])]) {
      for (const f of g.files || []) out.push(f.includes("=") ? f.split("=")[1] : f);
    }
    console.log(out.join("\n"));' "$1"
}
while IFS= read -r k; do
  dir=$(dirname "$k")
  n=0
  while IFS= read -r ref; do
    [[ -z "$ref" ]] && continue
    n=$((n + 1))
    [[ -e "$dir/$ref" ]] || fail "${k#"$tmp"/}: names $ref, which does not exist"
  done < <(refs "$k")
  [[ $n -gt 0 ]] || fail "${k#"$tmp"/} names nothing"
done < <(find "$tmp/deploy" -name kustomization.yaml)

# Rendered kustomizations.
if command -v kubectl >/dev/null; then
  for overlay in base overlays/kind; do
    if ! kubectl kustomize "$tmp/deploy/$overlay" >"$tmp/rendered-${overlay//\//-}.yaml" 2>"$tmp/err"; then
      fail "kubectl kustomize deploy/$overlay: $(cat "$tmp/err")"
      continue
    fi
    validate "$tmp/rendered-${overlay//\//-}.yaml" >"$tmp/out" || fail "deploy/$overlay rendered: $(cat "$tmp/out")"
  done
  rendered="$tmp/rendered-overlays-kind.yaml"
  for kind in Namespace ServiceAccount ClusterRole ClusterRoleBinding ConfigMap Secret Deployment \
    PodDisruptionBudget Service MutatingWebhookConfiguration; do
    grep -q "^kind: $kind$" "$rendered" || fail "the kind overlay renders no $kind"
  done
  grep -q 'secretName: tether-cacerts-' "$rendered" || fail "the Deployment does not mount the generated CA Secret"
else
  echo "kubectl is not installed: kustomizations checked by their references only"
fi

# Each file on its own (kustomization.yaml and kind's cluster config are not
# Kubernetes API objects).
mapfile -t files < <(find "$tmp/deploy" -name '*.yaml' ! -name kustomization.yaml \
  ! -path '*/kind/cluster.yaml' ! -path '*/cacerts/*' | sort)
[[ ${#files[@]} -ge 8 ]] || fail "found only ${#files[@]} manifests in deploy/"
validate "${files[@]}" >"$tmp/out" || fail "deploy/ files: $(cat "$tmp/out")"
tail -1 "$tmp/out"

# The injector's output (one validator run: node takes seconds to start).
injected=()
for native in true false; do
  for f in "$tmp/deploy/kind/sample-app.yaml" "$fixtures"/*.yaml; do
    out="$tmp/injected-$native-$(basename "$f")"
    "$ctl" inject -f "$f" --inject-native-sidecar=$native >"$out" 2>/dev/null ||
      fail "tetherctl inject $f"
    injected+=("$out")
  done
done
validate "${injected[@]}" >"$tmp/out" || fail "injected manifests: $(cat "$tmp/out")"
grep -q 'restartPolicy: Always' "$tmp/injected-true-sample-app.yaml" || fail "no native sidecar"
tail -1 "$tmp/out"

# Names that must agree across files.
base="$tmp/deploy/base"
args=$(cat "$base/control-deployment.yaml")
grep -q -- '--webhook-configuration=tether-sidecar-injector' <<<"$args" || fail "--webhook-configuration"
grep -q '^  name: tether-sidecar-injector$' "$base/webhook.yaml" || fail "webhook configuration name"
grep -q 'resourceNames: \["tether-sidecar-injector"\]' "$base/rbac.yaml" || fail "RBAC: webhook name"
grep -q 'resourceNames: \["tether-trust-bundle", "tether-revocations"\]' "$base/rbac.yaml" || fail "RBAC: ConfigMap names"
grep -q 'resources: \["pods", "services"\]' "$base/rbac.yaml" || fail "RBAC: pods and services"
grep -q 'resources: \["endpointslices"\]' "$base/rbac.yaml" || fail "RBAC: endpointslices"
grep -q 'name: tether-webhook$' "$base/webhook.yaml" || fail "webhook Service in the configuration"
grep -q -- '--serving-dns-names=tether-webhook.tether-system.svc' <<<"$args" ||
  fail "the serving certificate must name the webhook Service"
grep -q 'secretName: tether-cacerts$' <<<"$args" || fail "the CA Secret"
grep -q -- '--inject-control-address=tether-control.tether-system.svc:15012' <<<"$args" ||
  fail "the control address proxies dial"
grep -q '^  name: tether-control$' "$base/services.yaml" || fail "the tether-control Service"

# The check fails on a broken manifest.
sed -e 's/^  replicas: 2$/  replicas: "two"/' -e 's/^  revisionHistoryLimit: 5$/  revisionHistoryLimt: 5/' \
  "$base/control-deployment.yaml" >"$tmp/broken.yaml"
if validate "$tmp/broken.yaml" >"$tmp/out"; then
  fail "a broken Deployment passed: $(cat "$tmp/out")"
else
  grep -q '/spec/replicas' "$tmp/out" || fail "the wrong type was not reported: $(cat "$tmp/out")"
  grep -q '/spec/revisionHistoryLimt: unknown field' "$tmp/out" ||
    fail "the unknown field was not reported: $(cat "$tmp/out")"
fi

if [[ $failures -gt 0 ]]; then
  echo "$failures failures"
  exit 1
fi
echo "deploy/ manifests: all checks passed"
