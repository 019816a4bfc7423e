"""Server-side apply through the typed API: create, conflict, force, managedFields."""

import unittest

from kubernetes import client
from kubernetes.client.rest import ApiException

from support import NS, connect, status_of

APPLY = "application/apply-patch+yaml"


def setUpModule():
    connect()


def config(data):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "applied", "namespace": NS},
        "data": data,
    }


class ServerSideApplyTest(unittest.TestCase):
    def setUp(self):
        self.core = client.CoreV1Api()

    def test_apply_conflict_force(self):
        created = self.core.patch_namespaced_config_map(
            "applied", NS, config({"a": "1"}), field_manager="py", _content_type=APPLY
        )
        self.assertEqual(created.data, {"a": "1"})
        managers = [(e.manager, e.operation) for e in created.metadata.managed_fields]
        self.assertIn(("py", "Apply"), managers)

        with self.assertRaises(ApiException) as caught:
            self.core.patch_namespaced_config_map(
                "applied", NS, config({"a": "2"}), field_manager="other", _content_type=APPLY
            )
        self.assertEqual(caught.exception.status, 409)
        status = status_of(caught.exception)
        self.assertEqual(
            status["message"], 'Apply failed with 1 conflict: conflict with "py": .data.a'
        )

        forced = self.core.patch_namespaced_config_map(
            "applied",
            NS,
            config({"a": "2"}),
            field_manager="other",
            force=True,
            _content_type=APPLY,
        )
        self.assertEqual(forced.data, {"a": "2"})
        self.core.delete_namespaced_config_map("applied", NS)
