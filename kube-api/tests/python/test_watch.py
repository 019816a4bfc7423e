"""Watches: events in order from a resourceVersion, live changes, streaming lists, 410 and
relist."""

import json
import unittest

from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from support import NS, can_compact, configmap, connect, names, request_compaction, status_of


def setUpModule():
    connect()


class WatchTest(unittest.TestCase):
    ns = "py-watch"

    @classmethod
    def setUpClass(cls):
        client.CoreV1Api().create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=cls.ns))
        )

    def setUp(self):
        self.core = client.CoreV1Api()

    def stream(self, resource_version, until, timeout_seconds=10, **kwargs):
        """Events of configmaps in the namespace from `resource_version`, until `until(event)`."""
        events = []
        w = watch.Watch()
        for event in w.stream(
            self.core.list_namespaced_config_map,
            self.ns,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            **kwargs
        ):
            events.append(event)
            if until(event):
                w.stop()
        return events

    def test_watch_from_a_resource_version_sees_changes_in_order(self):
        start = self.core.list_namespaced_config_map(self.ns).metadata.resource_version
        created = self.core.create_namespaced_config_map(self.ns, configmap("w1"))
        self.core.patch_namespaced_config_map("w1", self.ns, {"data": {"k": "v2"}})
        self.core.delete_namespaced_config_map("w1", self.ns)

        events = self.stream(start, lambda e: e["type"] == "DELETED")
        self.assertEqual([e["type"] for e in events], ["ADDED", "MODIFIED", "DELETED"])
        for event in events:
            self.assertIsInstance(event["object"], client.V1ConfigMap)
            self.assertEqual(event["object"].metadata.name, "w1")
            self.assertEqual(event["object"].metadata.uid, created.metadata.uid)
            self.assertEqual(event["raw_object"]["kind"], "ConfigMap")
            self.assertEqual(event["raw_object"]["apiVersion"], "v1")
        self.assertEqual(events[0]["object"].data, {"k": "v"})
        self.assertEqual(events[1]["object"].data, {"k": "v2"})
        versions = [e["object"].metadata.resource_version for e in events]
        self.assertEqual(len(set(versions)), 3)

    def test_watch_sees_live_changes_and_filters_by_label(self):
        start = self.core.list_namespaced_config_map(self.ns).metadata.resource_version
        for name, wanted in (("live-0", "no"), ("live-1", "yes")):
            self.core.create_namespaced_config_map(
                self.ns, configmap(name, labels={"watch": wanted})
            )
        events = []
        w = watch.Watch()
        for event in w.stream(
            self.core.list_namespaced_config_map,
            self.ns,
            resource_version=start,
            label_selector="watch=yes",
            timeout_seconds=10,
        ):
            events.append((event["type"], event["object"].metadata.name))
            if len(events) == 1:
                # Written while the watch is open.
                self.core.create_namespaced_config_map(
                    self.ns, configmap("live-2", labels={"watch": "yes"})
                )
            else:
                w.stop()
        self.assertEqual(events, [("ADDED", "live-1"), ("ADDED", "live-2")])

    def test_streaming_list_sends_initial_events_then_a_bookmark(self):
        core = self.core
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py-stream")))
        for name in ("s-a", "s-b"):
            core.create_namespaced_config_map("py-stream", configmap(name))
        events = []
        w = watch.Watch()
        for event in w.stream(
            core.list_namespaced_config_map,
            "py-stream",
            send_initial_events=True,
            resource_version_match="NotOlderThan",
            allow_watch_bookmarks=True,
            timeout_seconds=10,
        ):
            events.append(event)
            if event["type"] == "BOOKMARK":
                w.stop()
        self.assertEqual([e["type"] for e in events], ["ADDED", "ADDED", "BOOKMARK"])
        self.assertEqual(sorted(e["object"].metadata.name for e in events[:2]), ["s-a", "s-b"])
        bookmark = events[2]["raw_object"]["metadata"]
        self.assertEqual(bookmark["annotations"], {"k8s.io/initial-events-end": "true"})
        # The client resumes from the bookmark's resourceVersion.
        self.assertEqual(w.resource_version, bookmark["resourceVersion"])

    def test_watch_across_namespaces_with_a_field_selector(self):
        start = self.core.list_config_map_for_all_namespaces().metadata.resource_version
        self.core.create_namespaced_config_map(NS, configmap("elsewhere"))
        self.core.create_namespaced_config_map(self.ns, configmap("here"))
        events = []
        w = watch.Watch()
        for event in w.stream(
            self.core.list_config_map_for_all_namespaces,
            resource_version=start,
            field_selector="metadata.namespace=%s" % self.ns,
            timeout_seconds=10,
        ):
            meta = event["object"].metadata
            events.append((event["type"], meta.namespace, meta.name))
            w.stop()
        self.assertEqual(events, [("ADDED", self.ns, "here")])
        self.core.delete_namespaced_config_map("elsewhere", NS)

    def test_watch_ends_after_timeout_seconds(self):
        start = self.core.list_namespaced_config_map(self.ns).metadata.resource_version
        events = self.stream(start, lambda e: True, timeout_seconds=1, label_selector="none=none")
        self.assertEqual(events, [])

    def test_expired_watch_gives_410_then_relist_and_watch_on(self):
        if not can_compact():
            self.skipTest("needs the harness to compact the store (KUBE_API_COMPACT=stdio)")
        old = self.core.create_namespaced_config_map(self.ns, configmap("old"))
        old_version = old.metadata.resource_version
        self.core.patch_namespaced_config_map("old", self.ns, {"data": {"k": "v2"}})
        self.core.patch_namespaced_config_map("old", self.ns, {"data": {"k": "v3"}})
        request_compaction()

        with self.assertRaises(ApiException) as caught:
            self.stream(old_version, lambda e: True, timeout_seconds=5)
        self.assertEqual(caught.exception.status, 410)

        # On the wire, as upstream: 200, then one ERROR event carrying a 410 Expired Status.
        raw = self.core.list_namespaced_config_map(
            self.ns, watch=True, resource_version=old_version, timeout_seconds=5,
            _preload_content=False,
        )
        try:
            self.assertEqual(raw.status, 200)
            lines = [line for line in raw.data.decode().splitlines() if line]
        finally:
            raw.release_conn()
        self.assertEqual(len(lines), 1)
        event = json.loads(lines[0])
        self.assertEqual(event["type"], "ERROR")
        self.assertEqual(event["object"]["kind"], "Status")
        self.assertEqual(event["object"]["code"], 410)
        self.assertEqual(event["object"]["reason"], "Expired")

        # Relist, then watch on from the list's resourceVersion.
        relisted = self.core.list_namespaced_config_map(self.ns)
        self.assertIn("old", names(relisted.items))
        self.core.patch_namespaced_config_map("old", self.ns, {"data": {"k": "v4"}})
        events = self.stream(relisted.metadata.resource_version, lambda e: True)
        self.assertEqual([e["type"] for e in events], ["MODIFIED"])
        self.assertEqual(events[0]["object"].data, {"k": "v4"})

    def test_expired_list_continue_gives_410(self):
        if not can_compact():
            self.skipTest("needs the harness to compact the store (KUBE_API_COMPACT=stdio)")
        for i in range(3):
            self.core.create_namespaced_config_map(self.ns, configmap("page-%d" % i))
        first = self.core.list_namespaced_config_map(self.ns, limit=1)
        self.core.patch_namespaced_config_map("page-0", self.ns, {"data": {"k": "changed"}})
        request_compaction()
        with self.assertRaises(ApiException) as caught:
            self.core.list_namespaced_config_map(
                self.ns, limit=1, _continue=first.metadata._continue
            )
        self.assertEqual(caught.exception.status, 410)
        self.assertEqual(status_of(caught.exception)["reason"], "Expired")
