"""Lists: paging with limit and continue, label and field selectors."""

import unittest

from kubernetes import client
from kubernetes.client.rest import ApiException

from support import configmap, connect, names, pod


def setUpModule():
    connect()


class ListTest(unittest.TestCase):
    ns = "py-list"

    @classmethod
    def setUpClass(cls):
        core = client.CoreV1Api()
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=cls.ns)))
        for i in range(7):
            labels = {"app": "a" if i % 2 == 0 else "b", "index": str(i)}
            core.create_namespaced_config_map(cls.ns, configmap("cm-%d" % i, labels=labels))

    def setUp(self):
        self.core = client.CoreV1Api()

    def test_paging_with_limit_and_continue(self):
        seen = []
        pages = 0
        token = None
        while True:
            page = self.core.list_namespaced_config_map(self.ns, limit=2, _continue=token)
            self.assertIsInstance(page, client.V1ConfigMapList)
            self.assertLessEqual(len(page.items), 2)
            seen.extend(names(page.items))
            pages += 1
            token = page.metadata._continue
            if not token:
                break
        self.assertEqual(pages, 4)
        self.assertEqual(sorted(seen), ["cm-%d" % i for i in range(7)])
        self.assertEqual(len(seen), len(set(seen)))

    def test_paging_sees_a_consistent_snapshot(self):
        first = self.core.list_namespaced_config_map(self.ns, limit=3)
        # Written between pages: not part of this list.
        self.core.create_namespaced_config_map(self.ns, configmap("cm-late"))
        try:
            rest = self.core.list_namespaced_config_map(
                self.ns, limit=100, _continue=first.metadata._continue
            )
            seen = names(first.items) + names(rest.items)
            self.assertEqual(sorted(seen), ["cm-%d" % i for i in range(7)])
            self.assertEqual(rest.metadata.resource_version, first.metadata.resource_version)
        finally:
            self.core.delete_namespaced_config_map("cm-late", self.ns)

    def test_label_selectors(self):
        def select(selector):
            return sorted(
                names(self.core.list_namespaced_config_map(self.ns, label_selector=selector).items)
            )

        self.assertEqual(select("app=a"), ["cm-0", "cm-2", "cm-4", "cm-6"])
        self.assertEqual(select("app!=a"), ["cm-1", "cm-3", "cm-5"])
        self.assertEqual(select("app=b,index in (1,5)"), ["cm-1", "cm-5"])
        self.assertEqual(select("index notin (0,1,2,3,4)"), ["cm-5", "cm-6"])
        self.assertEqual(select("!missing"), ["cm-%d" % i for i in range(7)])
        self.assertEqual(select("missing"), [])
        everywhere = self.core.list_config_map_for_all_namespaces(label_selector="app=b")
        self.assertEqual(sorted(names(everywhere.items)), ["cm-1", "cm-3", "cm-5"])

    def test_invalid_label_selector_is_bad_request(self):
        with self.assertRaises(ApiException) as caught:
            self.core.list_namespaced_config_map(self.ns, label_selector="app in (a")
        self.assertEqual(caught.exception.status, 400)

    def test_pod_field_selectors(self):
        self.core.create_namespaced_pod(self.ns, pod("p-a", node_name="node-1"))
        self.core.create_namespaced_pod(self.ns, pod("p-b", node_name="node-2"))
        self.core.create_namespaced_pod(self.ns, pod("p-c"))
        try:

            def select(selector):
                listed = self.core.list_namespaced_pod(self.ns, field_selector=selector)
                return sorted(names(listed.items))

            self.assertEqual(select("metadata.name=p-b"), ["p-b"])
            self.assertEqual(select("spec.nodeName=node-1"), ["p-a"])
            self.assertEqual(select("spec.nodeName="), ["p-c"])
            self.assertEqual(select("spec.nodeName!=node-1"), ["p-b", "p-c"])
            self.assertEqual(select("metadata.name!=p-a,spec.nodeName!="), ["p-b"])
            self.assertEqual(select("status.phase=Pending"), ["p-a", "p-b", "p-c"])
            everywhere = self.core.list_pod_for_all_namespaces(
                field_selector="spec.nodeName=node-2"
            )
            self.assertEqual(names(everywhere.items), ["p-b"])
            with self.assertRaises(ApiException) as caught:
                self.core.list_namespaced_pod(self.ns, field_selector="spec.unknown=x")
            self.assertEqual(caught.exception.status, 400)
        finally:
            for name in ("p-a", "p-b", "p-c"):
                self.core.delete_namespaced_pod(name, self.ns, grace_period_seconds=0)
