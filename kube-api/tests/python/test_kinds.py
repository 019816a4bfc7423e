"""Objects of many built-in kinds through the client's strict models, both ways."""

import datetime
import unittest

from kubernetes import client

from support import NS, connect, container, names, template


def setUpModule():
    connect()


class KindsTest(unittest.TestCase):
    """Objects of many built-in kinds survive the client's strict models both ways."""

    def round_trip(self, api, kind, body, namespaced=True):
        """Creates, reads, lists (by label) and deletes one object; returns the read object."""
        plural = kind
        args = (NS,) if namespaced else ()
        suffix = "namespaced_" if namespaced else ""
        body.metadata.labels = {"round-trip": kind}
        created = getattr(api, "create_%s%s" % (suffix, plural))(*args, body)
        name = created.metadata.name
        read = getattr(api, "read_%s%s" % (suffix, plural))(name, *args)
        self.assertEqual(type(read), type(created))
        self.assertEqual(read.metadata.uid, created.metadata.uid)
        self.assertIsInstance(read.metadata.creation_timestamp, datetime.datetime)
        listed = getattr(api, "list_%s%s" % (suffix, plural))(
            *args, label_selector="round-trip=%s" % kind
        )
        self.assertEqual(names(listed.items), [name])
        # The raw answer: some kinds answer a delete with the object, see the service case.
        answer = getattr(api, "delete_%s%s" % (suffix, plural))(
            name, *args, _preload_content=False
        )
        self.assertEqual(answer.status, 200)
        answer.release_conn()
        return read

    def test_batch(self):
        batch = client.BatchV1Api()
        job = self.round_trip(
            batch,
            "job",
            client.V1Job(
                metadata=client.V1ObjectMeta(name="once"),
                spec=client.V1JobSpec(
                    template=client.V1PodTemplateSpec(
                        spec=client.V1PodSpec(restart_policy="Never", containers=[container()])
                    )
                ),
            ),
        )
        self.assertEqual(job.spec.backoff_limit, 6)
        self.assertEqual(job.spec.completions, 1)
        self.assertEqual(job.spec.parallelism, 1)
        cron = self.round_trip(
            batch,
            "cron_job",
            client.V1CronJob(
                metadata=client.V1ObjectMeta(name="nightly"),
                spec=client.V1CronJobSpec(
                    schedule="0 3 * * *",
                    job_template=client.V1JobTemplateSpec(
                        spec=client.V1JobSpec(
                            template=client.V1PodTemplateSpec(
                                spec=client.V1PodSpec(
                                    restart_policy="OnFailure", containers=[container()]
                                )
                            )
                        )
                    ),
                ),
            ),
        )
        self.assertEqual(cron.spec.concurrency_policy, "Allow")
        self.assertFalse(cron.spec.suspend)

    def test_apps(self):
        apps = client.AppsV1Api()
        labels = {"app": "kinds"}
        selector = client.V1LabelSelector(match_labels=labels)
        sts = self.round_trip(
            apps,
            "stateful_set",
            client.V1StatefulSet(
                metadata=client.V1ObjectMeta(name="db"),
                spec=client.V1StatefulSetSpec(
                    service_name="db", selector=selector, template=template(labels)
                ),
            ),
        )
        self.assertEqual(sts.spec.pod_management_policy, "OrderedReady")
        self.assertEqual(sts.spec.update_strategy.type, "RollingUpdate")
        ds = self.round_trip(
            apps,
            "daemon_set",
            client.V1DaemonSet(
                metadata=client.V1ObjectMeta(name="agent"),
                spec=client.V1DaemonSetSpec(selector=selector, template=template(labels)),
            ),
        )
        self.assertEqual(ds.spec.update_strategy.type, "RollingUpdate")
        rs = self.round_trip(
            apps,
            "replica_set",
            client.V1ReplicaSet(
                metadata=client.V1ObjectMeta(name="rs"),
                spec=client.V1ReplicaSetSpec(selector=selector, template=template(labels)),
            ),
        )
        self.assertEqual(rs.spec.replicas, 1)

    def test_core(self):
        core = client.CoreV1Api()
        account = client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="sa"))
        self.round_trip(core, "service_account", account)
        pvc = self.round_trip(
            core,
            "persistent_volume_claim",
            client.V1PersistentVolumeClaim(
                metadata=client.V1ObjectMeta(name="data"),
                spec=client.V1PersistentVolumeClaimSpec(
                    access_modes=["ReadWriteOnce"],
                    resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
                ),
            ),
        )
        self.assertEqual(pvc.spec.resources.requests, {"storage": "1Gi"})
        self.assertEqual(pvc.spec.volume_mode, "Filesystem")
        self.round_trip(
            core,
            "persistent_volume",
            client.V1PersistentVolume(
                metadata=client.V1ObjectMeta(name="pv-1"),
                spec=client.V1PersistentVolumeSpec(
                    capacity={"storage": "5Gi"},
                    access_modes=["ReadWriteOnce"],
                    host_path=client.V1HostPathVolumeSource(path="/tmp/pv-1"),
                ),
            ),
            namespaced=False,
        )
        self.round_trip(
            core,
            "resource_quota",
            client.V1ResourceQuota(
                metadata=client.V1ObjectMeta(name="quota"),
                spec=client.V1ResourceQuotaSpec(hard={"pods": "10", "requests.cpu": "2"}),
            ),
        )
        limits = self.round_trip(
            core,
            "limit_range",
            client.V1LimitRange(
                metadata=client.V1ObjectMeta(name="limits"),
                spec=client.V1LimitRangeSpec(
                    limits=[client.V1LimitRangeItem(type="Container", max={"cpu": "500m"})]
                ),
            ),
        )
        self.assertEqual(limits.spec.limits[0].max, {"cpu": "500m"})
        self.round_trip(
            core,
            "pod_template",
            client.V1PodTemplate(
                metadata=client.V1ObjectMeta(name="tmpl"), template=template({"a": "b"})
            ),
        )

    def test_networking_policy_rbac_storage_scheduling(self):
        self.round_trip(
            client.NetworkingV1Api(),
            "ingress",
            client.V1Ingress(
                metadata=client.V1ObjectMeta(name="web"),
                spec=client.V1IngressSpec(
                    rules=[
                        client.V1IngressRule(
                            host="example.test",
                            http=client.V1HTTPIngressRuleValue(
                                paths=[
                                    client.V1HTTPIngressPath(
                                        path="/",
                                        path_type="Prefix",
                                        backend=client.V1IngressBackend(
                                            service=client.V1IngressServiceBackend(
                                                name="web",
                                                port=client.V1ServiceBackendPort(number=80),
                                            )
                                        ),
                                    )
                                ]
                            ),
                        )
                    ]
                ),
            ),
        )
        policy = self.round_trip(
            client.NetworkingV1Api(),
            "network_policy",
            client.V1NetworkPolicy(
                metadata=client.V1ObjectMeta(name="deny"),
                spec=client.V1NetworkPolicySpec(
                    pod_selector=client.V1LabelSelector(),
                    ingress=[
                        client.V1NetworkPolicyIngressRule(
                            ports=[client.V1NetworkPolicyPort(port=5432)]
                        )
                    ],
                ),
            ),
        )
        self.assertEqual(policy.spec.policy_types, ["Ingress"])
        self.assertEqual(policy.spec.ingress[0].ports[0].protocol, "TCP")
        self.round_trip(
            client.PolicyV1Api(),
            "pod_disruption_budget",
            client.V1PodDisruptionBudget(
                metadata=client.V1ObjectMeta(name="pdb"),
                spec=client.V1PodDisruptionBudgetSpec(
                    min_available=1, selector=client.V1LabelSelector(match_labels={"a": "b"})
                ),
            ),
        )
        rbac = client.RbacAuthorizationV1Api()
        self.round_trip(
            rbac,
            "role",
            client.V1Role(
                metadata=client.V1ObjectMeta(name="reader"),
                rules=[
                    client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])
                ],
            ),
        )
        self.round_trip(
            rbac,
            "role_binding",
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="reader"),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="Role", name="reader"
                ),
                subjects=[client.RbacV1Subject(kind="ServiceAccount", name="sa", namespace=NS)],
            ),
        )
        self.round_trip(
            rbac,
            "cluster_role",
            client.V1ClusterRole(metadata=client.V1ObjectMeta(name="py-viewer"), rules=[]),
            namespaced=False,
        )
        storage_class = self.round_trip(
            client.StorageV1Api(),
            "storage_class",
            client.V1StorageClass(
                metadata=client.V1ObjectMeta(name="fast"), provisioner="example.test/fast"
            ),
            namespaced=False,
        )
        self.assertEqual(storage_class.reclaim_policy, "Delete")
        self.assertEqual(storage_class.volume_binding_mode, "Immediate")
        priority = self.round_trip(
            client.SchedulingV1Api(),
            "priority_class",
            client.V1PriorityClass(metadata=client.V1ObjectMeta(name="high"), value=1000),
            namespaced=False,
        )
        self.assertEqual(priority.preemption_policy, "PreemptLowerPriority")
        hpa = self.round_trip(
            client.AutoscalingV2Api(),
            "horizontal_pod_autoscaler",
            client.V2HorizontalPodAutoscaler(
                metadata=client.V1ObjectMeta(name="web"),
                spec=client.V2HorizontalPodAutoscalerSpec(
                    max_replicas=5,
                    scale_target_ref=client.V2CrossVersionObjectReference(
                        api_version="apps/v1", kind="Deployment", name="web"
                    ),
                ),
            ),
        )
        self.assertEqual(hpa.spec.min_replicas, 1)
        # No metrics: 80% average CPU utilization.
        self.assertEqual(len(hpa.spec.metrics), 1)
        self.assertEqual(hpa.spec.metrics[0].type, "Resource")
        self.assertEqual(hpa.spec.metrics[0].resource.name, "cpu")
        self.assertEqual(hpa.spec.metrics[0].resource.target.type, "Utilization")
        self.assertEqual(hpa.spec.metrics[0].resource.target.average_utilization, 80)


class EventsTest(unittest.TestCase):
    def test_core_and_events_api_events(self):
        core = client.CoreV1Api()
        when = datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)
        created = core.create_namespaced_event(
            NS,
            client.CoreV1Event(
                metadata=client.V1ObjectMeta(name="web.1"),
                involved_object=client.V1ObjectReference(kind="Pod", name="web", namespace=NS),
                reason="Started",
                message="Started container web",
                type="Normal",
                count=1,
                first_timestamp=when,
                last_timestamp=when,
                source=client.V1EventSource(component="kubelet"),
            ),
        )
        self.assertEqual(created.first_timestamp, when)
        listed = core.list_namespaced_event(NS, field_selector="involvedObject.name=web")
        self.assertEqual(names(listed.items), ["web.1"])
        self.assertEqual(
            core.list_namespaced_event(NS, field_selector="reason=Killing").items, []
        )

        events = client.EventsV1Api()
        micro = datetime.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=datetime.timezone.utc)
        created = events.create_namespaced_event(
            NS,
            client.EventsV1Event(
                metadata=client.V1ObjectMeta(name="web.2"),
                event_time=micro,
                reporting_controller="example.test/ctl",
                reporting_instance="ctl-1",
                action="Scale",
                reason="Scaled",
                type="Normal",
                regarding=client.V1ObjectReference(kind="Deployment", name="web", namespace=NS),
            ),
        )
        self.assertEqual(created.event_time, micro)
        read = events.read_namespaced_event("web.2", NS)
        self.assertEqual(read.regarding.name, "web")
        self.assertEqual(read.event_time, micro)
        events.delete_namespaced_event("web.2", NS)
        core.delete_namespaced_event("web.1", NS)

    def test_endpoint_slices(self):
        discovery = client.DiscoveryV1Api()
        created = discovery.create_namespaced_endpoint_slice(
            NS,
            client.V1EndpointSlice(
                metadata=client.V1ObjectMeta(
                    name="web-abc", labels={"kubernetes.io/service-name": "web"}
                ),
                address_type="IPv4",
                endpoints=[
                    client.V1Endpoint(
                        addresses=["10.0.0.5"],
                        conditions=client.V1EndpointConditions(ready=True),
                    )
                ],
                ports=[client.DiscoveryV1EndpointPort(name="http", port=8080)],
            ),
        )
        self.assertEqual(created.ports[0].protocol, "TCP")
        self.assertEqual(created.address_type, "IPv4")
        listed = discovery.list_namespaced_endpoint_slice(
            NS, label_selector="kubernetes.io/service-name=web"
        )
        self.assertEqual(names(listed.items), ["web-abc"])
        self.assertTrue(listed.items[0].endpoints[0].conditions.ready)
        discovery.delete_namespaced_endpoint_slice("web-abc", NS)
