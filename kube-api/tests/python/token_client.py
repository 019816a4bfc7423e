"""Runs a few requests with the official client as a service account and prints their codes.

Run by kube-api/tests/tokens.rs with KUBECONFIG naming a kubeconfig whose user is a bearer
token from the TokenRequest API; the Rust test judges the answers. Prints one JSON object:
{"list NAMESPACE": CODE, ..., "create NAMESPACE": CODE}, 200/201 for success.

    KUBECONFIG=/path/to/kubeconfig python3 token_client.py team-a team-b
"""

import json
import os
import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException


def code_of(call):
    try:
        call()
        return 200
    except ApiException as error:
        return error.status


def main(namespaces):
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    settings = client.Configuration.get_default_copy()
    if not (settings.host.startswith("https://") and settings.verify_ssl and settings.ssl_ca_cert):
        raise RuntimeError("the kubeconfig must name an https server and its CA")
    core = client.CoreV1Api()
    codes = {}
    for ns in namespaces:
        codes[f"list {ns}"] = code_of(lambda: core.list_namespaced_pod(ns))
        codes[f"create {ns}"] = code_of(
            lambda: core.create_namespaced_config_map(
                ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="py-"))
            )
        )
    print(json.dumps(codes, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
