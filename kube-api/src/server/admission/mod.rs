//! Admission: the plugins every write passes after authorization and before it is stored.
//!
//! A [`Chain`] runs every [`MutatingAdmission`] plugin in order on the object of a create,
//! update or delete, then (after the kind's defaulting and validation, see
//! [`Strategy`](super::storage::Strategy)) every [`ValidatingAdmission`] plugin. A plugin
//! refuses a request with a metav1.Status ([`StatusError`]); [`forbidden`] builds upstream's
//! `pods "a" is forbidden: ...`. The plugins come from [`Admission`] in
//! [`Config::admission`](super::Config::admission): by default the built-in ones below, then the
//! webhooks of MutatingWebhookConfiguration and ValidatingWebhookConfiguration objects
//! ([`webhook`]).
//!
//! Where it runs: a create is admitted in [`Storage::create_admitted`] (mutating plugins on the
//! decoded object before generateName and defaulting, as upstream's handler does; validating
//! ones after validation); an update or patch inside the read-modify-write loop of
//! [`Storage`] on the candidate object, written guarded by the resourceVersion it was computed
//! from, so a conflict admits the retried candidate again; a delete on the stored object before
//! it is deleted; the `binding` and `eviction` subresources on their request object.
//!
//! Writes the server makes itself (bootstrap, its controllers) are not admitted; upstream's
//! go through its loopback client and are.

use std::sync::Arc;

use async_trait::async_trait;
use kube_core::registry::ResourceInfo;
use kube_core::status::StatusError;
use serde_json::Value;

use super::authn::UserInfo;
use super::storage::Storage;

pub mod default_toleration_seconds;
pub mod limit_ranger;
pub mod namespace_lifecycle;
pub mod node_restriction;
pub mod pod_security;
pub mod resource_quota;
pub mod service_account;
pub mod webhook;

pub use default_toleration_seconds::DefaultTolerationSeconds;
pub use limit_ranger::LimitRanger;
pub use namespace_lifecycle::NamespaceLifecycle;
pub use node_restriction::NodeRestriction;
pub use pod_security::PodSecurity;
pub use resource_quota::ResourceQuota;
pub use service_account::ServiceAccountAdmission;
pub use webhook::{MutatingWebhooks, ValidatingWebhooks};

/// The operation a request performs, as AdmissionReview names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// A create (POST, or an apply that creates).
    Create,
    /// An update (PUT, PATCH, apply).
    Update,
    /// A delete.
    Delete,
    /// A connect (exec, attach, port-forward, proxy).
    Connect,
}

impl Operation {
    /// The name AdmissionReview and webhook rules use: `CREATE`, `UPDATE`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
        }
    }
}

/// What a plugin is asked about: upstream's admission attributes.
#[derive(Debug, Clone)]
pub struct Attributes {
    /// The group of the object's kind (empty for the core group).
    pub group: String,
    /// The version of the object's kind.
    pub version: String,
    /// The object's kind, `Pod`.
    pub kind: String,
    /// The resource, `pods`.
    pub resource: String,
    /// The subresource, `status`, or empty.
    pub subresource: String,
    /// The object's name (empty for a create with `generateName`).
    pub name: String,
    /// The namespace (empty for cluster-scoped resources).
    pub namespace: String,
    /// The operation.
    pub operation: Operation,
    /// The object as it would be stored; mutating plugins change it. `None` for a delete.
    pub object: Option<Value>,
    /// The stored object, for updates and deletes.
    pub old_object: Option<Value>,
    /// Whether the request is a dry run (admitted, not written).
    pub dry_run: bool,
    /// Who sent the request.
    pub user: UserInfo,
    /// The options of the operation (a CreateOptions, UpdateOptions or DeleteOptions).
    pub options: Option<Value>,
    /// Warnings plugins add; they reach the client as `Warning` headers.
    pub warnings: Vec<String>,
    /// Whether the mutating plugins are being run again because a later one changed the
    /// object (upstream's reinvocation); webhooks with `reinvocationPolicy: Never` skip it.
    pub reinvoked: bool,
    /// What plugins read for this request, kept across its attempts.
    pub reads: Reads,
}

/// Objects plugins read during one request (webhook configurations, say), shared by the
/// attempts of an update retried on conflicts so that a retry does not read them again.
#[derive(Debug, Clone, Default)]
pub struct Reads(Arc<std::sync::Mutex<std::collections::BTreeMap<String, Arc<Vec<Value>>>>>);

impl Reads {
    /// What was kept under `key`.
    pub fn get(&self, key: &str) -> Option<Arc<Vec<Value>>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Keeps `objects` under `key`; returns them.
    pub fn put(&self, key: &str, objects: Vec<Value>) -> Arc<Vec<Value>> {
        let objects = Arc::new(objects);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned(), Arc::clone(&objects));
        objects
    }
}

impl Attributes {
    /// Attributes of `operation` on `resource`, with no objects yet.
    pub fn new(info: &ResourceInfo, operation: Operation, request: &Request<'_>) -> Self {
        Self {
            group: info.group.clone(),
            version: info.version.clone(),
            kind: info.kind.clone(),
            resource: info.plural.clone(),
            subresource: request.subresource.to_owned(),
            name: String::new(),
            namespace: String::new(),
            operation,
            object: None,
            old_object: None,
            dry_run: false,
            user: request.user.clone(),
            options: request.options.clone(),
            warnings: Vec::new(),
            reinvoked: false,
            reads: request.reads.clone(),
        }
    }

    /// Whether this is `resource` of the core group, with no subresource.
    pub fn is_core(&self, resource: &str) -> bool {
        self.group.is_empty() && self.resource == resource && self.subresource.is_empty()
    }
}

/// Every object of `info` in `namespace` (all namespaces for `""`), read from the store (one
/// range read, not waiting on a watch cache) once per request and kept in `attrs.reads`.
pub async fn read_all(
    attrs: &Attributes,
    storage: &Storage,
    info: &ResourceInfo,
    namespace: &str,
) -> Result<Arc<Vec<Value>>, StatusError> {
    let key = format!("{}/{}/{namespace}", info.group, info.plural);
    if let Some(kept) = attrs.reads.get(&key) {
        return Ok(kept);
    }
    let prefix = super::storage::key::collection_prefix(info, namespace);
    let listed = storage
        .store()
        .list(kube_store::ListRequest::prefix(prefix))
        .await
        .map_err(|e| super::storage::store_error(e, info, ""))?;
    let objects = listed
        .items
        .iter()
        .map(|kv| super::storage::decode(info, kv))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(attrs.reads.put(&key, objects))
}

/// A 403 as upstream's admission plugins answer: `pods "a" is forbidden: <cause>`.
pub fn forbidden(attrs: &Attributes, cause: &str) -> StatusError {
    StatusError::forbidden_with(&attrs.group, &attrs.resource, &attrs.name, cause)
}

/// A plugin that may change the object of a request (upstream's MutationInterface).
///
/// Contract: [`admit`](Self::admit) is called only for operations [`handles`](Self::handles)
/// accepts, in chain order, and may replace or edit `attrs.object`; it refuses the request by
/// returning the Status the client gets. It may be called again for the same request when an
/// update conflicts with a concurrent writer, so it must not have side effects that cannot be
/// repeated (and none at all for `attrs.dry_run`).
#[async_trait]
pub trait MutatingAdmission: Send + Sync {
    /// The plugin's name, for logs.
    fn name(&self) -> &str;

    /// Whether the plugin looks at `operation` requests.
    fn handles(&self, operation: Operation) -> bool;

    /// Mutates or refuses the request. `storage` reads other objects (namespaces, service
    /// accounts, ...).
    async fn admit(&self, attrs: &mut Attributes, storage: &Storage) -> Result<(), StatusError>;
}

/// A plugin that may refuse a request but not change it (upstream's ValidationInterface).
///
/// Contract: [`validate`](Self::validate) is called only for operations
/// [`handles`](Self::handles) accepts, after every mutating plugin and the kind's validation,
/// and refuses the request by returning the Status the client gets. It may add warnings.
#[async_trait]
pub trait ValidatingAdmission: Send + Sync {
    /// The plugin's name, for logs.
    fn name(&self) -> &str;

    /// Whether the plugin looks at `operation` requests.
    fn handles(&self, operation: Operation) -> bool;

    /// Refuses the request, or lets it through.
    async fn validate(&self, attrs: &mut Attributes, storage: &Storage) -> Result<(), StatusError>;
}

/// The admission plugins of a server, in order ([`Config::admission`](super::Config::admission)).
#[derive(Clone)]
pub struct Admission {
    /// The mutating plugins, run first, in order.
    pub mutating: Vec<Arc<dyn MutatingAdmission>>,
    /// The validating plugins, run after the mutating ones and validation, in order.
    pub validating: Vec<Arc<dyn ValidatingAdmission>>,
}

impl Admission {
    /// No plugins: every request is admitted.
    pub fn none() -> Self {
        Self {
            mutating: Vec::new(),
            validating: Vec::new(),
        }
    }

    /// The built-in plugins upstream enables by default that this server implements, in
    /// upstream's order: NamespaceLifecycle, LimitRanger, ServiceAccount, NodeRestriction,
    /// PodSecurity, DefaultTolerationSeconds, the mutating and validating webhooks, then
    /// ResourceQuota.
    pub fn builtin() -> Self {
        Self {
            mutating: vec![
                Arc::new(LimitRanger),
                Arc::new(ServiceAccountAdmission),
                Arc::new(DefaultTolerationSeconds::default()),
                Arc::new(MutatingWebhooks),
            ],
            validating: vec![
                Arc::new(NamespaceLifecycle),
                Arc::new(LimitRanger),
                Arc::new(NodeRestriction),
                Arc::new(PodSecurity),
                Arc::new(ValidatingWebhooks),
                Arc::new(ResourceQuota),
            ],
        }
    }

    /// These plugins with `plugin` appended to the mutating ones.
    pub fn with_mutating(mut self, plugin: Arc<dyn MutatingAdmission>) -> Self {
        self.mutating.push(plugin);
        self
    }

    /// These plugins with `plugin` appended to the validating ones.
    pub fn with_validating(mut self, plugin: Arc<dyn ValidatingAdmission>) -> Self {
        self.validating.push(plugin);
        self
    }
}

impl Default for Admission {
    fn default() -> Self {
        Self::builtin()
    }
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field(
                "mutating",
                &self.mutating.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .field(
                "validating",
                &self.validating.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The chain a server runs, built from [`Admission`].
#[derive(Debug, Clone)]
pub struct Chain {
    plugins: Admission,
}

impl Chain {
    /// The chain of `plugins`.
    pub fn new(plugins: Admission) -> Self {
        Self { plugins }
    }

    /// Runs every mutating plugin that handles the operation, in order. Mutating webhooks with
    /// `reinvocationPolicy: IfNeeded` run again once when a later plugin changed the object.
    pub async fn admit(
        &self,
        attrs: &mut Attributes,
        storage: &Storage,
    ) -> Result<(), StatusError> {
        let mut reinvoke = Vec::new();
        for (i, plugin) in self.plugins.mutating.iter().enumerate() {
            if plugin.handles(attrs.operation) {
                let before = attrs.object.clone();
                plugin.admit(attrs, storage).await?;
                if before != attrs.object {
                    reinvoke.push(i);
                }
            }
        }
        // Upstream's reinvocation: once, for plugins that ran before a later change.
        let Some(&last_change) = reinvoke.last() else {
            return Ok(());
        };
        for plugin in self.plugins.mutating[..last_change].iter() {
            if plugin.handles(attrs.operation) {
                attrs.reinvoked = true;
                let result = plugin.admit(attrs, storage).await;
                attrs.reinvoked = false;
                result?;
            }
        }
        Ok(())
    }

    /// Runs every validating plugin that handles the operation, in order.
    pub async fn validate(
        &self,
        attrs: &mut Attributes,
        storage: &Storage,
    ) -> Result<(), StatusError> {
        for plugin in &self.plugins.validating {
            if plugin.handles(attrs.operation) {
                plugin.validate(attrs, storage).await?;
            }
        }
        Ok(())
    }
}

/// Who asks and how, for the admission of one request: what a handler gives [`Storage`].
#[derive(Debug)]
pub struct Request<'a> {
    /// The server's chain.
    pub chain: &'a Chain,
    /// Who sent the request.
    pub user: &'a UserInfo,
    /// The subresource named on the URL, or empty.
    pub subresource: &'a str,
    /// The options of the operation, as AdmissionReview carries them.
    pub options: Option<Value>,
    /// The warnings the plugins gave, for the response's `Warning` headers.
    pub warnings: std::sync::Mutex<Vec<String>>,
    /// What plugins read, kept across the attempts of the request.
    pub reads: Reads,
}

impl<'a> Request<'a> {
    /// The admission of a request by `user` on `subresource` (or `""`) through `chain`.
    pub fn new(chain: &'a Chain, user: &'a UserInfo, subresource: &'a str) -> Self {
        Self {
            chain,
            user,
            subresource,
            options: None,
            warnings: std::sync::Mutex::new(Vec::new()),
            reads: Reads::default(),
        }
    }

    /// This request with `options`.
    pub fn with_options(mut self, options: Value) -> Self {
        self.options = Some(options);
        self
    }

    /// The warnings given so far, taken.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Keeps the warnings `attrs` collected.
    pub fn keep_warnings(&self, attrs: &mut Attributes) {
        let mut warnings = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        for w in attrs.warnings.drain(..) {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
    }

    /// Runs the whole chain on `attrs` (mutating, then validating) with no validation of the
    /// kind between: for subresources whose request object is not stored as sent (binding,
    /// eviction).
    pub async fn admit_and_validate(
        &self,
        attrs: &mut Attributes,
        storage: &Storage,
    ) -> Result<(), StatusError> {
        self.chain.admit(attrs, storage).await?;
        self.chain.validate(attrs, storage).await?;
        self.keep_warnings(attrs);
        Ok(())
    }

    /// Attributes of `operation` on `name` in `namespace` of `info`.
    pub fn attributes(
        &self,
        info: &ResourceInfo,
        operation: Operation,
        namespace: &str,
        name: &str,
        dry_run: bool,
    ) -> Attributes {
        let mut attrs = Attributes::new(info, operation, self);
        attrs.namespace = if info.namespaced {
            namespace.to_owned()
        } else {
            String::new()
        };
        attrs.name = name.to_owned();
        attrs.dry_run = dry_run;
        attrs
    }
}
