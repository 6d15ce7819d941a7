#!/bin/sh
# Köprü image entrypoint. Kubernetes/Knative pass configuration as environment
# variables (envFrom a ConfigMap and Secrets). OpenFaaS mounts each key of a
# function's secrets as a file, /var/openfaas/secrets/<KEY>: export those whose
# name is an environment variable name and which the environment does not already
# set, then run the command (functions-framework, or `kopru ...`).
set -eu
secrets_dir="${OPENFAAS_SECRETS_DIR:-/var/openfaas/secrets}"
if [ -d "$secrets_dir" ]; then
    for f in "$secrets_dir"/*; do
        [ -f "$f" ] || continue
        name=$(basename "$f")
        case "$name" in
            *[!A-Za-z0-9_]* | [0-9]*) continue ;;
        esac
        if eval "[ -z \"\${$name+set}\" ]"; then
            value=$(cat "$f")
            export "$name=$value"
        fi
    done
fi
exec "$@"
