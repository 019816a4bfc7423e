//! Patch metadata of the built-in kinds, for strategic merge patch.
//!
//! Upstream reads it from the Go struct tags of `k8s.io/api` (`patchStrategy:"merge"
//! patchMergeKey:"name"`); k8s-openapi does not carry those tags, so this is a hand-written
//! table: a static tree of [`TypeSchema`]s, each listing the fields that have a patch strategy
//! or lead to a type that does. Fields not listed behave as upstream treats fields without
//! metadata: maps merge, lists are replaced whole.
//!
//! Look a kind up with [`for_kind`]. Custom resources have no schema here: upstream refuses
//! strategic merge patch on them (415), and callers should do the same.

/// A reference to a type's patch metadata, as [`super::strategic::apply`] takes it.
pub type SchemaRef = &'static TypeSchema;

/// The patch metadata of one API type (a Go struct upstream).
#[derive(Debug)]
pub struct TypeSchema {
    /// The type's OpenAPI name, e.g. `io.k8s.api.core.v1.PodSpec`.
    pub name: &'static str,
    /// The fields with patch metadata or a nested type that has some.
    pub fields: &'static [Field],
}

impl TypeSchema {
    /// The metadata of field `name`, if the table lists it.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// The patch metadata of one field.
#[derive(Debug)]
pub struct Field {
    /// The field's JSON name.
    pub name: &'static str,
    /// The type the field holds: the struct itself, or a list's item type.
    pub schema: Option<SchemaRef>,
    /// How the field merges.
    pub strategy: Strategy,
    /// Whether the field also carries the `retainKeys` strategy: patches that change which
    /// member of a union is set send `$retainKeys` to clear the others.
    pub retain_keys: bool,
}

/// How a field merges under strategic merge patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// No `patchStrategy` tag: maps merge field by field, lists are replaced whole.
    Default,
    /// `patchStrategy:"merge"` on a list: items with the same merge key merge, new items are
    /// added; without a key (lists of primitives) the list is a set union.
    Merge {
        /// The `patchMergeKey`, for lists of objects.
        key: Option<&'static str>,
    },
    /// `patchStrategy:"replace"`: the value is replaced whole.
    Replace,
}

impl Field {
    /// The merge key of a list merged by key.
    pub fn merge_key(&self) -> Option<&'static str> {
        match self.strategy {
            Strategy::Merge { key } => key,
            _ => None,
        }
    }
}

/// A field holding a nested type, no strategy of its own.
const fn nested(name: &'static str, schema: SchemaRef) -> Field {
    Field {
        name,
        schema: Some(schema),
        strategy: Strategy::Default,
        retain_keys: false,
    }
}

/// A list merged by `key`, items of type `schema` when the table describes it.
const fn by_key(name: &'static str, key: &'static str, schema: Option<SchemaRef>) -> Field {
    Field {
        name,
        schema,
        strategy: Strategy::Merge { key: Some(key) },
        retain_keys: false,
    }
}

/// `merge,retainKeys`: a list merged by `key`, whose items are unions.
const fn by_key_retain(name: &'static str, key: &'static str) -> Field {
    Field {
        name,
        schema: None,
        strategy: Strategy::Merge { key: Some(key) },
        retain_keys: true,
    }
}

/// A list of primitives merged as a set.
const fn set(name: &'static str) -> Field {
    Field {
        name,
        schema: None,
        strategy: Strategy::Merge { key: None },
        retain_keys: false,
    }
}

/// A list replaced whole, listed only to document it.
const fn atomic(name: &'static str) -> Field {
    Field {
        name,
        schema: None,
        strategy: Strategy::Default,
        retain_keys: false,
    }
}

/// A struct with the `retainKeys` strategy (a union such as a Deployment strategy).
const fn retain(name: &'static str) -> Field {
    Field {
        name,
        schema: None,
        strategy: Strategy::Default,
        retain_keys: true,
    }
}

/// Conditions merged by `type` (every `status.conditions` listed here).
const CONDITIONS: Field = by_key("conditions", "type", None);

// metav1

/// `ObjectMeta`.
pub static OBJECT_META: TypeSchema = TypeSchema {
    name: "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    fields: &[set("finalizers"), by_key("ownerReferences", "uid", None)],
};

/// Any object whose only patch metadata is its `metadata`: the fallback for built-in kinds that
/// this table does not list.
pub static OBJECT: TypeSchema = TypeSchema {
    name: "object",
    fields: &[nested("metadata", &OBJECT_META)],
};

// core/v1

/// `Container`, and `EphemeralContainer` (same tags).
pub static CONTAINER: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.Container",
    fields: &[
        by_key("ports", "containerPort", None),
        by_key("env", "name", None),
        by_key("volumeMounts", "mountPath", None),
        by_key("volumeDevices", "devicePath", None),
        atomic("envFrom"),
        atomic("resizePolicy"),
    ],
};

/// `PodSpec`.
pub static POD_SPEC: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.PodSpec",
    fields: &[
        by_key_retain("volumes", "name"),
        by_key("initContainers", "name", Some(&CONTAINER)),
        by_key("containers", "name", Some(&CONTAINER)),
        by_key("ephemeralContainers", "name", Some(&CONTAINER)),
        by_key("imagePullSecrets", "name", None),
        by_key("hostAliases", "ip", None),
        by_key("topologySpreadConstraints", "topologyKey", None),
        by_key("schedulingGates", "name", None),
        by_key_retain("resourceClaims", "name"),
        atomic("tolerations"),
        atomic("readinessGates"),
    ],
};

/// `PodStatus`.
pub static POD_STATUS: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.PodStatus",
    fields: &[
        CONDITIONS,
        by_key("podIPs", "ip", None),
        by_key("hostIPs", "ip", None),
        by_key_retain("resourceClaimStatuses", "name"),
        atomic("containerStatuses"),
        atomic("initContainerStatuses"),
        atomic("ephemeralContainerStatuses"),
    ],
};

/// `Pod`.
pub static POD: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.Pod",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &POD_SPEC),
        nested("status", &POD_STATUS),
    ],
};

/// `PodTemplateSpec`.
pub static POD_TEMPLATE_SPEC: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.PodTemplateSpec",
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &POD_SPEC)],
};

/// `PodTemplate`.
pub static POD_TEMPLATE: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.PodTemplate",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("template", &POD_TEMPLATE_SPEC),
    ],
};

/// The spec of a workload whose only nested metadata is its pod template.
static TEMPLATED_SPEC: TypeSchema = TypeSchema {
    name: "spec with template",
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

/// A status whose only patch metadata is `conditions` merged by `type`.
static CONDITIONS_STATUS: TypeSchema = TypeSchema {
    name: "status with conditions",
    fields: &[CONDITIONS],
};

/// `ReplicationController`.
pub static REPLICATION_CONTROLLER: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.ReplicationController",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &TEMPLATED_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// `Service`: ports merge by `port`.
pub static SERVICE: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.Service",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested(
            "spec",
            &TypeSchema {
                name: "io.k8s.api.core.v1.ServiceSpec",
                fields: &[by_key("ports", "port", None), atomic("externalIPs")],
            },
        ),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// `Node`.
pub static NODE: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.Node",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested(
            "spec",
            &TypeSchema {
                name: "io.k8s.api.core.v1.NodeSpec",
                fields: &[set("podCIDRs"), atomic("taints")],
            },
        ),
        nested(
            "status",
            &TypeSchema {
                name: "io.k8s.api.core.v1.NodeStatus",
                fields: &[
                    CONDITIONS,
                    by_key("addresses", "type", None),
                    atomic("images"),
                    atomic("volumesAttached"),
                    atomic("volumesInUse"),
                ],
            },
        ),
    ],
};

/// `Namespace` (`spec.finalizers` has no strategy: replaced whole).
pub static NAMESPACE: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.Namespace",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// `PersistentVolumeClaim`.
pub static PERSISTENT_VOLUME_CLAIM: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.PersistentVolumeClaim",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// `ServiceAccount`: secrets merge by `name`.
pub static SERVICE_ACCOUNT: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.ServiceAccount",
    fields: &[
        nested("metadata", &OBJECT_META),
        by_key("secrets", "name", None),
    ],
};

/// `ConfigMap` (data and binaryData are maps and merge by key).
pub static CONFIG_MAP: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.ConfigMap",
    fields: &[nested("metadata", &OBJECT_META)],
};

/// `Secret`.
pub static SECRET: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.Secret",
    fields: &[nested("metadata", &OBJECT_META)],
};

/// `Event` (core/v1 and events.k8s.io/v1).
pub static EVENT: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.Event",
    fields: &[nested("metadata", &OBJECT_META)],
};

/// `Endpoints` (subsets and their lists have no strategy: replaced whole).
pub static ENDPOINTS: TypeSchema = TypeSchema {
    name: "io.k8s.api.core.v1.Endpoints",
    fields: &[nested("metadata", &OBJECT_META), atomic("subsets")],
};

// apps/v1

/// `Deployment`: `spec.strategy` is `retainKeys`.
pub static DEPLOYMENT: TypeSchema = TypeSchema {
    name: "io.k8s.api.apps.v1.Deployment",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested(
            "spec",
            &TypeSchema {
                name: "io.k8s.api.apps.v1.DeploymentSpec",
                fields: &[nested("template", &POD_TEMPLATE_SPEC), retain("strategy")],
            },
        ),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// `ReplicaSet`.
pub static REPLICA_SET: TypeSchema = TypeSchema {
    name: "io.k8s.api.apps.v1.ReplicaSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &TEMPLATED_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// `StatefulSet` (`updateStrategy` has no `retainKeys` upstream; `volumeClaimTemplates` is
/// replaced whole).
pub static STATEFUL_SET: TypeSchema = TypeSchema {
    name: "io.k8s.api.apps.v1.StatefulSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested(
            "spec",
            &TypeSchema {
                name: "io.k8s.api.apps.v1.StatefulSetSpec",
                fields: &[
                    nested("template", &POD_TEMPLATE_SPEC),
                    atomic("volumeClaimTemplates"),
                ],
            },
        ),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// `DaemonSet` (`updateStrategy` has no `retainKeys` upstream).
pub static DAEMON_SET: TypeSchema = TypeSchema {
    name: "io.k8s.api.apps.v1.DaemonSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &TEMPLATED_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

// batch/v1

/// `JobSpec`.
static JOB_SPEC: TypeSchema = TypeSchema {
    name: "io.k8s.api.batch.v1.JobSpec",
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

/// `Job`.
pub static JOB: TypeSchema = TypeSchema {
    name: "io.k8s.api.batch.v1.Job",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &JOB_SPEC),
        nested("status", &CONDITIONS_STATUS),
    ],
};

/// `CronJob` (`status.active` is replaced whole).
pub static CRON_JOB: TypeSchema = TypeSchema {
    name: "io.k8s.api.batch.v1.CronJob",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested(
            "spec",
            &TypeSchema {
                name: "io.k8s.api.batch.v1.CronJobSpec",
                fields: &[nested(
                    "jobTemplate",
                    &TypeSchema {
                        name: "io.k8s.api.batch.v1.JobTemplateSpec",
                        fields: &[nested("metadata", &OBJECT_META), nested("spec", &JOB_SPEC)],
                    },
                )],
            },
        ),
    ],
};

/// The patch metadata of a built-in kind, or `None` for kinds this table does not list (custom
/// resources among them). Callers that know a kind is built-in may fall back to [`OBJECT`].
pub fn for_kind(group: &str, version: &str, kind: &str) -> Option<SchemaRef> {
    let schema: SchemaRef = match (group, version, kind) {
        ("", "v1", "Pod") => &POD,
        ("", "v1", "PodTemplate") => &POD_TEMPLATE,
        ("", "v1", "ReplicationController") => &REPLICATION_CONTROLLER,
        ("", "v1", "Service") => &SERVICE,
        ("", "v1", "Node") => &NODE,
        ("", "v1", "Namespace") => &NAMESPACE,
        ("", "v1", "PersistentVolumeClaim") => &PERSISTENT_VOLUME_CLAIM,
        ("", "v1", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("", "v1", "ConfigMap") => &CONFIG_MAP,
        ("", "v1", "Secret") => &SECRET,
        ("", "v1", "Event") | ("events.k8s.io", "v1", "Event") => &EVENT,
        ("", "v1", "Endpoints") => &ENDPOINTS,
        ("apps", "v1", "Deployment") => &DEPLOYMENT,
        ("apps", "v1", "ReplicaSet") => &REPLICA_SET,
        ("apps", "v1", "StatefulSet") => &STATEFUL_SET,
        ("apps", "v1", "DaemonSet") => &DAEMON_SET,
        ("batch", "v1", "Job") => &JOB,
        ("batch", "v1", "CronJob") => &CRON_JOB,
        _ => return None,
    };
    Some(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(schema: SchemaRef, path: &[&str]) -> Option<&'static Field> {
        let (last, parents) = path.split_last()?;
        let mut current = schema;
        for name in parents {
            current = current.field(name)?.schema?;
        }
        current.field(last)
    }

    #[test]
    fn deployment_reaches_container_env() {
        let deployment = for_kind("apps", "v1", "Deployment");
        let env =
            deployment.and_then(|d| walk(d, &["spec", "template", "spec", "containers", "env"]));
        assert_eq!(env.and_then(Field::merge_key), Some("name"));
        let strategy = deployment.and_then(|d| walk(d, &["spec", "strategy"]));
        assert!(strategy.is_some_and(|f| f.retain_keys));
    }

    #[test]
    fn cron_job_reaches_pod_spec() {
        let volumes = for_kind("batch", "v1", "CronJob").and_then(|c| {
            walk(
                c,
                &["spec", "jobTemplate", "spec", "template", "spec", "volumes"],
            )
        });
        assert!(volumes.is_some_and(|f| f.retain_keys && f.merge_key() == Some("name")));
    }

    #[test]
    fn custom_resources_have_no_schema() {
        assert!(for_kind("example.com", "v1", "Widget").is_none());
        assert!(for_kind("apps", "v1beta1", "Deployment").is_none());
    }
}
