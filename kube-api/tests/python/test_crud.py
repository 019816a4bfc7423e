"""Create, read, replace, patch and delete through the typed APIs; errors as Status."""

import datetime
import unittest

from kubernetes import client
from kubernetes.client.rest import ApiException

from support import NS, configmap, connect, names, pod, status_of


def setUpModule():
    connect()


class CoreV1CrudTest(unittest.TestCase):
    def setUp(self):
        self.core = client.CoreV1Api()

    def test_pod_create_read_replace_patch_delete(self):
        created = self.core.create_namespaced_pod(NS, pod("web", labels={"app": "web"}))
        self.assertIsInstance(created, client.V1Pod)
        meta = created.metadata
        self.assertEqual(meta.name, "web")
        self.assertEqual(meta.namespace, NS)
        self.assertTrue(meta.uid)
        self.assertTrue(meta.resource_version)
        self.assertIsInstance(meta.creation_timestamp, datetime.datetime)
        self.assertIsNotNone(meta.creation_timestamp.tzinfo)
        self.assertEqual(created.spec.containers[0].image, "nginx:1.27")
        # Defaults the client relies on.
        self.assertEqual(created.spec.restart_policy, "Always")
        self.assertEqual(created.spec.dns_policy, "ClusterFirst")
        self.assertEqual(created.status.phase, "Pending")

        read = self.core.read_namespaced_pod("web", NS)
        self.assertEqual(read.metadata.uid, meta.uid)
        self.assertEqual(read.metadata.resource_version, meta.resource_version)

        read.metadata.labels["version"] = "1"
        replaced = self.core.replace_namespaced_pod("web", NS, read)
        self.assertEqual(replaced.metadata.labels, {"app": "web", "version": "1"})
        self.assertNotEqual(replaced.metadata.resource_version, meta.resource_version)
        self.assertEqual(replaced.metadata.uid, meta.uid)

        # A dict body is a strategic merge patch: labels merge, containers merge by name.
        patched = self.core.patch_namespaced_pod(
            "web",
            NS,
            {
                "metadata": {"labels": {"tier": "front"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]},
            },
        )
        self.assertEqual(
            patched.metadata.labels, {"app": "web", "version": "1", "tier": "front"}
        )
        self.assertEqual(len(patched.spec.containers), 1)
        self.assertEqual(patched.spec.containers[0].image, "nginx:1.28")

        # A JSON merge patch, chosen through the content type.
        patched = self.core.patch_namespaced_pod(
            "web",
            NS,
            {"metadata": {"annotations": {"note": "merged"}, "labels": {"version": None}}},
            _content_type="application/merge-patch+json",
        )
        self.assertEqual(patched.metadata.annotations, {"note": "merged"})
        self.assertEqual(patched.metadata.labels, {"app": "web", "tier": "front"})

        # A list body is a JSON patch.
        patched = self.core.patch_namespaced_pod(
            "web", NS, [{"op": "replace", "path": "/metadata/labels/tier", "value": "back"}]
        )
        self.assertEqual(patched.metadata.labels["tier"], "back")

        # Not bound to a node, the pod goes at once; the answer is the pod.
        deleted = self.core.delete_namespaced_pod("web", NS)
        self.assertIsInstance(deleted, client.V1Pod)
        self.assertEqual(deleted.metadata.uid, meta.uid)
        with self.assertRaises(ApiException) as caught:
            self.core.read_namespaced_pod("web", NS)
        self.assertEqual(caught.exception.status, 404)

    def test_bound_pod_deletion_is_graceful(self):
        self.core.create_namespaced_pod(NS, pod("bound", node_name="node-1"))
        held = self.core.delete_namespaced_pod("bound", NS)
        self.assertIsInstance(held.metadata.deletion_timestamp, datetime.datetime)
        self.assertEqual(held.metadata.deletion_grace_period_seconds, 30)
        # Still there for its kubelet, until a delete with no grace period.
        self.assertEqual(self.core.read_namespaced_pod("bound", NS).metadata.uid, held.metadata.uid)
        self.core.delete_namespaced_pod("bound", NS, grace_period_seconds=0)
        with self.assertRaises(ApiException) as caught:
            self.core.read_namespaced_pod("bound", NS)
        self.assertEqual(caught.exception.status, 404)

    def test_create_from_yaml_helpers(self):
        from kubernetes import utils

        created = utils.create_from_dict(
            client.ApiClient(),
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "from-yaml", "namespace": NS},
                        "data": {"x": "1"},
                    },
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": "from-yaml", "namespace": NS},
                        "spec": {
                            "selector": {"matchLabels": {"app": "y"}},
                            "template": {
                                "metadata": {"labels": {"app": "y"}},
                                "spec": {"containers": [{"name": "y", "image": "y:1"}]},
                            },
                        },
                    },
                ],
            },
        )
        self.assertEqual(len(created), 2)
        self.assertEqual(self.core.read_namespaced_config_map("from-yaml", NS).data, {"x": "1"})
        deployment = client.AppsV1Api().read_namespaced_deployment("from-yaml", NS)
        self.assertEqual(deployment.spec.replicas, 1)
        self.core.delete_namespaced_config_map("from-yaml", NS)
        client.AppsV1Api().delete_namespaced_deployment("from-yaml", NS)

    def test_reading_a_missing_pod_is_not_found(self):
        with self.assertRaises(ApiException) as caught:
            self.core.read_namespaced_pod("missing", NS)
        error = caught.exception
        self.assertEqual(error.status, 404)
        status = status_of(error)
        self.assertEqual(status["kind"], "Status")
        self.assertEqual(status["apiVersion"], "v1")
        self.assertEqual(status["status"], "Failure")
        self.assertEqual(status["reason"], "NotFound")
        self.assertEqual(status["code"], 404)
        self.assertEqual(status["details"]["name"], "missing")
        self.assertEqual(status["details"]["kind"], "pods")

    def test_configmap_crud_and_conflicts(self):
        created = self.core.create_namespaced_config_map(NS, configmap("settings"))
        self.assertIsInstance(created, client.V1ConfigMap)
        self.assertEqual(created.data, {"k": "v"})

        with self.assertRaises(ApiException) as caught:
            self.core.create_namespaced_config_map(NS, configmap("settings"))
        self.assertEqual(caught.exception.status, 409)
        self.assertEqual(status_of(caught.exception)["reason"], "AlreadyExists")

        fresh = self.core.read_namespaced_config_map("settings", NS)
        fresh.data = {"k": "v2"}
        replaced = self.core.replace_namespaced_config_map("settings", NS, fresh)
        self.assertEqual(replaced.data, {"k": "v2"})

        # `fresh` still carries the old resourceVersion: the replace is refused.
        fresh.data = {"k": "stale"}
        with self.assertRaises(ApiException) as caught:
            self.core.replace_namespaced_config_map("settings", NS, fresh)
        self.assertEqual(caught.exception.status, 409)
        self.assertEqual(status_of(caught.exception)["reason"], "Conflict")
        self.assertEqual(self.core.read_namespaced_config_map("settings", NS).data, {"k": "v2"})

        patched = self.core.patch_namespaced_config_map(
            "settings", NS, {"data": {"extra": "1"}}
        )
        self.assertEqual(patched.data, {"k": "v2", "extra": "1"})
        patched = self.core.patch_namespaced_config_map(
            "settings",
            NS,
            {"data": {"extra": None}},
            _content_type="application/merge-patch+json",
        )
        self.assertEqual(patched.data, {"k": "v2"})

        # ConfigMaps answer a delete with a Status, which this client leaves a dict.
        deleted = self.core.delete_namespaced_config_map("settings", NS)
        self.assertEqual(deleted["kind"], "Status")
        self.assertEqual(deleted["status"], "Success")
        self.assertEqual(deleted["details"]["name"], "settings")
        self.assertEqual(deleted["details"]["uid"], created.metadata.uid)
        with self.assertRaises(ApiException) as caught:
            self.core.read_namespaced_config_map("settings", NS)
        self.assertEqual(caught.exception.status, 404)

    def test_service_crud(self):
        service = client.V1Service(
            metadata=client.V1ObjectMeta(name="web", labels={"app": "web"}),
            spec=client.V1ServiceSpec(
                selector={"app": "web"},
                ports=[client.V1ServicePort(name="http", port=80, target_port=8080)],
            ),
        )
        created = self.core.create_namespaced_service(NS, service)
        self.assertIsInstance(created, client.V1Service)
        self.assertEqual(created.spec.type, "ClusterIP")
        self.assertEqual(created.spec.ports[0].protocol, "TCP")
        self.assertEqual(created.spec.ports[0].target_port, 8080)
        self.assertEqual(created.spec.session_affinity, "None")

        read = self.core.read_namespaced_service("web", NS)
        read.spec.ports.append(client.V1ServicePort(name="https", port=443, target_port=8443))
        replaced = self.core.replace_namespaced_service("web", NS, read)
        self.assertEqual([p.port for p in replaced.spec.ports], [80, 443])

        # Ports merge by port number under strategic merge.
        patched = self.core.patch_namespaced_service(
            "web", NS, {"spec": {"ports": [{"port": 443, "name": "https", "target_port": 9443}]}}
        )
        self.assertEqual(len(patched.spec.ports), 2)
        self.assertEqual(patched.spec.ports[1].name, "https")

        self.core.delete_namespaced_service("web", NS, _preload_content=False).release_conn()
        with self.assertRaises(ApiException) as caught:
            self.core.read_namespaced_service("web", NS)
        self.assertEqual(caught.exception.status, 404)

    # Upstream answers a Service delete with the Service (ReturnDeletedObject, as for pods), and
    # this client deserializes the answer as a V1Service.
    def test_service_delete_answers_the_service(self):
        service = client.V1Service(
            metadata=client.V1ObjectMeta(name="gone"),
            spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]),
        )
        created = self.core.create_namespaced_service(NS, service)
        deleted = self.core.delete_namespaced_service("gone", NS)
        self.assertIsInstance(deleted, client.V1Service)
        self.assertEqual(deleted.metadata.uid, created.metadata.uid)

    def test_namespace_crud(self):
        created = self.core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name="py-scratch"))
        )
        self.assertIsInstance(created, client.V1Namespace)
        self.assertEqual(created.status.phase, "Active")
        self.assertIn("kubernetes", created.spec.finalizers)

        self.assertIn("py-scratch", names(self.core.list_namespace().items))
        patched = self.core.patch_namespace("py-scratch", {"metadata": {"labels": {"team": "a"}}})
        self.assertEqual(patched.metadata.labels.get("team"), "a")
        # The server labels every namespace with its name.
        self.assertEqual(patched.metadata.labels.get("kubernetes.io/metadata.name"), "py-scratch")

        read = self.core.read_namespace("py-scratch")
        read.metadata.annotations = {"owner": "me"}
        replaced = self.core.replace_namespace("py-scratch", read)
        self.assertEqual(replaced.metadata.annotations, {"owner": "me"})

        # The namespace finalizer holds it: it turns Terminating.
        self.core.delete_namespace("py-scratch")
        terminating = self.core.read_namespace("py-scratch")
        self.assertEqual(terminating.status.phase, "Terminating")
        self.assertIsInstance(terminating.metadata.deletion_timestamp, datetime.datetime)
        with self.assertRaises(ApiException) as caught:
            self.core.create_namespaced_config_map("py-scratch", configmap("late"))
        self.assertEqual(caught.exception.status, 403)


class AppsV1Test(unittest.TestCase):
    def test_deployment_crud(self):
        apps = client.AppsV1Api()
        labels = {"app": "api"}
        deployment = client.V1Deployment(
            metadata=client.V1ObjectMeta(name="api", labels=labels),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        containers=[client.V1Container(name="api", image="api:1")]
                    ),
                ),
            ),
        )
        created = apps.create_namespaced_deployment(NS, deployment)
        self.assertIsInstance(created, client.V1Deployment)
        self.assertEqual(created.metadata.generation, 1)
        self.assertEqual(created.spec.strategy.type, "RollingUpdate")
        self.assertEqual(created.spec.revision_history_limit, 10)
        self.assertEqual(created.spec.progress_deadline_seconds, 600)

        patched = apps.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 3}})
        self.assertEqual(patched.spec.replicas, 3)
        self.assertEqual(patched.metadata.generation, 2)

        patched.spec.template.spec.containers[0].image = "api:2"
        replaced = apps.replace_namespaced_deployment("api", NS, patched)
        self.assertEqual(replaced.spec.template.spec.containers[0].image, "api:2")
        self.assertEqual(replaced.metadata.generation, 3)

        # A status-only change leaves the generation alone.
        status = apps.patch_namespaced_deployment_status(
            "api", NS, {"status": {"observedGeneration": 3, "replicas": 3}}
        )
        self.assertEqual(status.status.observed_generation, 3)
        self.assertEqual(status.metadata.generation, 3)

        listed = apps.list_namespaced_deployment(NS, label_selector="app=api")
        self.assertEqual(names(listed.items), ["api"])
        self.assertTrue(listed.metadata.resource_version)

        apps.delete_namespaced_deployment("api", NS)
        with self.assertRaises(ApiException) as caught:
            apps.read_namespaced_deployment("api", NS)
        self.assertEqual(caught.exception.status, 404)


class ObjectsTest(unittest.TestCase):
    def setUp(self):
        self.core = client.CoreV1Api()

    def test_generate_name(self):
        created = self.core.create_namespaced_config_map(
            NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-"))
        )
        self.assertTrue(created.metadata.name.startswith("gen-"))
        self.assertGreater(len(created.metadata.name), len("gen-"))
        self.core.delete_namespaced_config_map(created.metadata.name, NS)

    def test_invalid_object_is_unprocessable(self):
        with self.assertRaises(ApiException) as caught:
            self.core.create_namespaced_config_map(NS, configmap("Bad_Name"))
        self.assertEqual(caught.exception.status, 422)
        status = status_of(caught.exception)
        self.assertEqual(status["reason"], "Invalid")
        self.assertEqual(status["details"]["kind"], "ConfigMap")
        fields = [cause["field"] for cause in status["details"]["causes"]]
        self.assertIn("metadata.name", fields)

    def test_secret_string_data_becomes_data(self):
        created = self.core.create_namespaced_secret(
            NS,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="creds"), string_data={"user": "admin"}
            ),
        )
        self.assertEqual(created.type, "Opaque")
        self.assertEqual(created.data, {"user": "YWRtaW4="})
        self.assertIsNone(created.string_data)
        self.core.delete_namespaced_secret("creds", NS)

    def test_lease_micro_times_round_trip(self):
        coordination = client.CoordinationV1Api()
        now = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc)
        created = coordination.create_namespaced_lease(
            NS,
            client.V1Lease(
                metadata=client.V1ObjectMeta(name="leader"),
                spec=client.V1LeaseSpec(
                    holder_identity="a",
                    lease_duration_seconds=15,
                    acquire_time=now,
                    renew_time=now,
                ),
            ),
        )
        self.assertEqual(created.spec.renew_time, now)
        created.spec.renew_time = now + datetime.timedelta(seconds=10)
        renewed = coordination.replace_namespaced_lease("leader", NS, created)
        self.assertEqual(renewed.spec.renew_time, now + datetime.timedelta(seconds=10))
        self.assertEqual(renewed.spec.acquire_time, now)
        coordination.delete_namespaced_lease("leader", NS)

    def test_nodes_are_cluster_scoped(self):
        created = self.core.create_node(
            client.V1Node(metadata=client.V1ObjectMeta(name="node-a", labels={"zone": "z1"}))
        )
        self.assertIsNone(created.metadata.namespace)
        listed = self.core.list_node(label_selector="zone=z1")
        self.assertEqual(names(listed.items), ["node-a"])
        self.core.delete_node("node-a")
        self.assertEqual(self.core.list_node(label_selector="zone=z1").items, [])

    def test_delete_options_in_the_body(self):
        self.core.create_namespaced_config_map(NS, configmap("guarded"))
        stale = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="wrong"))
        with self.assertRaises(ApiException) as caught:
            self.core.delete_namespaced_config_map("guarded", NS, body=stale)
        self.assertEqual(caught.exception.status, 409)

        # Foreground deletion: the garbage collector's finalizer holds the object.
        held = self.core.delete_namespaced_config_map(
            "guarded", NS, body=client.V1DeleteOptions(propagation_policy="Foreground")
        )
        self.assertEqual(held["kind"], "ConfigMap")
        read = self.core.read_namespaced_config_map("guarded", NS)
        self.assertEqual(read.metadata.finalizers, ["foregroundDeletion"])
        self.assertIsInstance(read.metadata.deletion_timestamp, datetime.datetime)
        # Removing the finalizer lets it go.
        self.core.patch_namespaced_config_map(
            "guarded", NS, {"metadata": {"finalizers": None}},
            _content_type="application/merge-patch+json",
        )
        with self.assertRaises(ApiException) as caught:
            self.core.read_namespaced_config_map("guarded", NS)
        self.assertEqual(caught.exception.status, 404)


class ServerTest(unittest.TestCase):
    def setUp(self):
        self.core = client.CoreV1Api()

    def test_version(self):
        info = client.VersionApi().get_code()
        self.assertIsInstance(info, client.VersionInfo)
        self.assertTrue(info.major)
        self.assertTrue(info.git_version.startswith("v"))

    def test_dry_run_create_persists_nothing(self):
        answer = self.core.create_namespaced_config_map(NS, configmap("dry"), dry_run="All")
        self.assertEqual(answer.metadata.name, "dry")
        with self.assertRaises(ApiException) as caught:
            self.core.read_namespaced_config_map("dry", NS)
        self.assertEqual(caught.exception.status, 404)

    def test_pod_status_subresource(self):
        self.core.create_namespaced_pod(NS, pod("status-pod"))
        try:
            patched = self.core.patch_namespaced_pod_status(
                "status-pod", NS, {"status": {"phase": "Running", "podIP": "10.0.0.9"}}
            )
            self.assertEqual(patched.status.phase, "Running")
            self.assertEqual(patched.status.pod_ip, "10.0.0.9")
            # The main resource ignores status; the status subresource ignores spec.
            patched.status.phase = "Failed"
            patched.metadata.labels = {"ignored": "no"}
            replaced = self.core.replace_namespaced_pod("status-pod", NS, patched)
            self.assertEqual(replaced.status.phase, "Running")
            self.assertEqual(replaced.metadata.labels, {"ignored": "no"})
            read = self.core.read_namespaced_pod_status("status-pod", NS)
            self.assertEqual(read.status.pod_ip, "10.0.0.9")
        finally:
            self.core.delete_namespaced_pod("status-pod", NS)

    def test_delete_collection_by_label(self):
        for i in range(3):
            self.core.create_namespaced_config_map(
                NS, configmap("batch-%d" % i, labels={"batch": "yes" if i < 2 else "no"})
            )
        self.core.delete_collection_namespaced_config_map(NS, label_selector="batch=yes")
        left = self.core.list_namespaced_config_map(NS, label_selector="batch")
        self.assertEqual(names(left.items), ["batch-2"])
        self.core.delete_namespaced_config_map("batch-2", NS)

    def test_dynamic_client_through_discovery(self):
        from kubernetes import dynamic

        dyn = dynamic.DynamicClient(client.ApiClient())
        configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
        self.assertTrue(configmaps.namespaced)
        created = configmaps.create(
            namespace=NS,
            body={
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "dynamic"},
                "data": {"a": "1"},
            },
        )
        self.assertEqual(created.metadata.name, "dynamic")
        got = configmaps.get(name="dynamic", namespace=NS)
        self.assertEqual(got.data.a, "1")
        deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
        self.assertEqual(deployments.group, "apps")
        self.assertIn("scale", [sub for sub in deployments.subresources])
        listed = configmaps.get(namespace=NS)
        self.assertIn("dynamic", [item.metadata.name for item in listed.items])
        configmaps.delete(name="dynamic", namespace=NS)
        with self.assertRaises(dynamic.exceptions.NotFoundError):
            configmaps.get(name="dynamic", namespace=NS)
