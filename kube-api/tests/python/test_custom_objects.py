"""Custom resources: a CRD through ApiextensionsV1Api, its objects through CustomObjectsApi."""

import time
import unittest

from kubernetes import client
from kubernetes.client.rest import ApiException

from support import NS, connect, status_of

GROUP = "pyclient.example.com"
PLURAL = "gadgets"


def setUpModule():
    connect()


def gadget_crd():
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": PLURAL + "." + GROUP},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": PLURAL, "kind": "Gadget", "shortNames": ["gd"]},
            "versions": [{
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {
                        "type": "object",
                        "properties": {
                            "size": {"type": "integer", "default": 1},
                            "color": {"type": "string", "enum": ["red", "blue"]},
                        },
                    }},
                }},
            }],
        },
    }


def gadget(name, spec):
    return {"apiVersion": GROUP + "/v1", "kind": "Gadget", "metadata": {"name": name}, "spec": spec}


class CustomObjectsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ext = client.ApiextensionsV1Api()
        ext.create_custom_resource_definition(gadget_crd())
        deadline = time.monotonic() + 10
        while True:
            crd = ext.read_custom_resource_definition(PLURAL + "." + GROUP)
            conditions = {c.type: c.status for c in (crd.status.conditions or [])}
            if conditions.get("Established") == "True":
                break
            if time.monotonic() > deadline:
                raise AssertionError("the CRD was not established: %s" % conditions)
            time.sleep(0.05)

    def setUp(self):
        self.api = client.CustomObjectsApi()

    def test_create_get_list_patch_delete(self):
        created = self.api.create_namespaced_custom_object(
            GROUP, "v1", NS, PLURAL, gadget("g1", {"color": "red"}))
        self.assertEqual(created["spec"], {"color": "red", "size": 1})
        got = self.api.get_namespaced_custom_object(GROUP, "v1", NS, PLURAL, "g1")
        self.assertEqual(got["metadata"]["uid"], created["metadata"]["uid"])
        listed = self.api.list_namespaced_custom_object(GROUP, "v1", NS, PLURAL)
        self.assertEqual(listed["kind"], "GadgetList")
        self.assertIn("g1", [i["metadata"]["name"] for i in listed["items"]])
        cluster = self.api.list_cluster_custom_object(GROUP, "v1", PLURAL)
        self.assertIn("g1", [i["metadata"]["name"] for i in cluster["items"]])
        patched = self.api.patch_namespaced_custom_object(
            GROUP, "v1", NS, PLURAL, "g1", {"spec": {"size": 3}})
        self.assertEqual(patched["spec"]["size"], 3)
        self.assertEqual(patched["metadata"]["generation"], 2)
        self.api.delete_namespaced_custom_object(GROUP, "v1", NS, PLURAL, "g1")
        with self.assertRaises(ApiException) as raised:
            self.api.get_namespaced_custom_object(GROUP, "v1", NS, PLURAL, "g1")
        self.assertEqual(raised.exception.status, 404)

    def test_invalid_object_is_422(self):
        with self.assertRaises(ApiException) as raised:
            self.api.create_namespaced_custom_object(
                GROUP, "v1", NS, PLURAL, gadget("bad", {"color": "green"}))
        self.assertEqual(raised.exception.status, 422)
        status = status_of(raised.exception)
        self.assertEqual(status["reason"], "Invalid")
        self.assertEqual(
            status["message"],
            'Gadget.pyclient.example.com "bad" is invalid: spec.color: Unsupported value: '
            '"green": supported values: "red", "blue"')


if __name__ == "__main__":
    unittest.main()
