"""Shared setup and object builders for the Python client tests.

The tests load the kubeconfig named by the KUBECONFIG environment variable. They are run by
kube-api/tests/python_client.rs, which starts the server on a loopback port; they can also run
by hand against a fresh server:

    KUBECONFIG=/path/to/kubeconfig python3 -m unittest discover -v

Two watch cases need the server's store compacted mid-test. When the environment variable
KUBE_API_COMPACT is "stdio", request_compaction() prints a line "COMPACT" on stdout and reads
back "COMPACTED <revision>" on stdin (the Rust harness compacts); otherwise they are skipped.
"""

import json
import os
import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException

# The namespace most cases work in.
NS = "py-client"

_connected = False


def connect():
    """Loads the kubeconfig once and makes sure the namespace NS exists."""
    global _connected
    if _connected:
        return
    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    # The server is reached over HTTPS and verified against the kubeconfig's CA.
    settings = client.Configuration.get_default_copy()
    if not (settings.host.startswith("https://") and settings.verify_ssl and settings.ssl_ca_cert):
        raise RuntimeError("the kubeconfig must name an https server and its CA")
    ensure_namespace(NS)
    _connected = True


def ensure_namespace(name):
    try:
        client.CoreV1Api().create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
        )
    except ApiException as error:
        if error.status != 409:
            raise


def can_compact():
    return os.environ.get("KUBE_API_COMPACT") == "stdio"


def status_of(error):
    """The Status object in an ApiException's body."""
    return json.loads(error.body)


def configmap(name, labels=None, data=None):
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        data=data or {"k": "v"},
    )


def pod(name, labels=None, node_name=None, image="nginx:1.27"):
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(
            node_name=node_name,
            containers=[client.V1Container(name="web", image=image)],
        ),
    )


def names(items):
    return [item.metadata.name for item in items]


def request_compaction():
    """Asks the harness to compact the store at its current revision."""
    print("COMPACT", flush=True)
    answer = sys.stdin.readline().strip()
    if not answer.startswith("COMPACTED "):
        raise AssertionError("harness answered %r to COMPACT" % answer)
    return answer.split(" ", 1)[1]


def container(name="c", image="busybox:1.36"):
    return client.V1Container(name=name, image=image)


def template(labels):
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=labels),
        spec=client.V1PodSpec(containers=[container()]),
    )
