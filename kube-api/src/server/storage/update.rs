//! Update: the read-modify-write loop (upstream's GuaranteedUpdate), resourceVersion
//! preconditions, the system fields an update keeps, generation, and the delete that the
//! update removing the last finalizer of a deleted object turns into.

use kube_core::registry::ResourceInfo;
use kube_core::status::StatusError;
use serde_json::Value;

use super::create::{invalid, namespace_mismatch};
use super::meta::{self, copy_field, copy_meta, meta_str, set_meta};
use super::{MAX_UPDATE_ATTEMPTS, Storage, decode, encode, key, store_error};
use crate::server::admission::{self, Operation};
use crate::server::fieldmanager::FieldManager;

/// What an update did.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    /// The object was written; here it is with its new resourceVersion.
    Updated(Value),
    /// Nothing changed, so nothing was written; here is the stored object.
    Unchanged(Value),
    /// The update emptied the finalizers of an object being deleted, so it was deleted.
    Deleted(Value),
}

impl UpdateOutcome {
    /// The object the response carries.
    pub fn into_object(self) -> Value {
        match self {
            Self::Updated(o) | Self::Unchanged(o) | Self::Deleted(o) => o,
        }
    }
}

/// What one attempt of a read-modify-write wants done.
pub(super) enum Change {
    /// Write this object in place of the stored one.
    Write(Value),
    /// Delete the stored object; answer with this one.
    Delete(Value),
    /// Write nothing; answer with this one.
    Keep(Value),
}

impl Storage {
    /// Updates one object: `update` gets the stored object (with its resourceVersion) and
    /// returns the new one. A resourceVersion in the new object is a precondition (409 if it is
    /// not the stored one); without one the update is unconditional and retried on conflicts
    /// with concurrent writers. `subresource` is `""` or `status`: for kinds with a status
    /// subresource, the main resource keeps the stored status and `status` writes only status.
    pub async fn update<F>(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        subresource: &str,
        dry_run: bool,
        update: F,
    ) -> Result<UpdateOutcome, StatusError>
    where
        F: FnMut(&Value) -> Result<Value, StatusError> + Send,
    {
        self.update_managed(info, namespace, name, subresource, dry_run, None, update)
            .await
    }

    /// [`Storage::update`], recording the fields the write changes for `manager` in
    /// `metadata.managedFields`.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_managed<F>(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        subresource: &str,
        dry_run: bool,
        manager: Option<&FieldManager>,
        update: F,
    ) -> Result<UpdateOutcome, StatusError>
    where
        F: FnMut(&Value) -> Result<Value, StatusError> + Send,
    {
        self.update_admitted(
            info,
            namespace,
            name,
            subresource,
            dry_run,
            manager,
            None,
            update,
        )
        .await
    }

    /// [`Storage::update_managed`] through the admission chain of `admit`: each candidate the
    /// read-modify-write loop computes is admitted (mutating plugins, validation again when
    /// they changed it, validating plugins) and written guarded by the resourceVersion it was
    /// computed from; a conflict computes and admits the next candidate, as upstream's
    /// GuaranteedUpdate does. Upstream runs the mutating plugins before the kind's defaulting;
    /// here they see the defaulted candidate, and a candidate they change is validated again.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_admitted<F>(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        subresource: &str,
        dry_run: bool,
        manager: Option<&FieldManager>,
        admit: Option<&admission::Request<'_>>,
        mut update: F,
    ) -> Result<UpdateOutcome, StatusError>
    where
        F: FnMut(&Value) -> Result<Value, StatusError> + Send,
    {
        let admit = admit.map(|a| (a, Operation::Update));
        self.read_modify_write(info, namespace, name, dry_run, admit, |old| {
            let given = update(old)?;
            let new = merge_subresource(info, subresource, old, given);
            self.prepare_update(info, new, old, manager)
        })
        .await
    }

    /// Admits the candidate `change` of an update of `old`.
    async fn admit_update(
        &self,
        info: &ResourceInfo,
        admit: &admission::Request<'_>,
        change: Change,
        old: &Value,
        dry_run: bool,
    ) -> Result<Change, StatusError> {
        let new = match change {
            Change::Write(new) | Change::Keep(new) => new,
            // Removing the last finalizer of a deleted object: upstream admits it as an
            // update; the object is gone after it, so only validating plugins matter.
            delete @ Change::Delete(_) => return Ok(delete),
        };
        let name = meta_str(old, "name").to_owned();
        let mut attrs = admit.attributes(
            info,
            Operation::Update,
            meta_str(old, "namespace"),
            &name,
            dry_run,
        );
        attrs.object = Some(new.clone());
        attrs.old_object = Some(old.clone());
        admit.chain.admit(&mut attrs, self).await?;
        let mut admitted = attrs.object.take().unwrap_or(Value::Null);
        if admitted != new {
            if !admitted.is_object() {
                return Err(StatusError::internal(
                    "a mutating admission plugin replaced the object with a non-object",
                ));
            }
            super::set_type(info, &mut admitted);
            set_meta(&mut admitted, "name", name.as_str());
            set_meta(
                &mut admitted,
                "resourceVersion",
                meta_str(old, "resourceVersion"),
            );
            meta::object_meta(&admitted)?;
            let errs = self.strategy.validate_update(info, &admitted, old);
            if !errs.is_empty() {
                return Err(invalid(info, &name, &errs));
            }
            self.strategy.canonicalize(info, &mut admitted);
        }
        attrs.object = Some(admitted);
        admit.chain.validate(&mut attrs, self).await?;
        admit.keep_warnings(&mut attrs);
        let admitted = attrs.object.take().unwrap_or(Value::Null);
        if admitted == *old {
            Ok(Change::Keep(admitted))
        } else {
            Ok(Change::Write(admitted))
        }
    }

    /// The generic part of an update, from the stored object and the one asked for.
    fn prepare_update(
        &self,
        info: &ResourceInfo,
        mut new: Value,
        old: &Value,
        manager: Option<&FieldManager>,
    ) -> Result<Change, StatusError> {
        if !new.is_object() {
            return Err(StatusError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        let name = meta_str(old, "name").to_owned();
        let wanted_rv = meta_str(&new, "resourceVersion").to_owned();
        if !wanted_rv.is_empty() && wanted_rv != meta_str(old, "resourceVersion") {
            return Err(StatusError::conflict(&info.group, &info.plural, &name));
        }
        super::set_type(info, &mut new);
        if meta_str(&new, "name") != name {
            return Err(StatusError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&new, "name")
            )));
        }
        if info.namespaced {
            let ns = meta_str(&new, "namespace");
            if ns.is_empty() {
                copy_meta(&mut new, old, "namespace");
            } else if ns != meta_str(old, "namespace") {
                return Err(namespace_mismatch());
            }
        } else {
            meta::remove_meta(&mut new, "namespace");
        }
        for field in [
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            copy_meta(&mut new, old, field);
        }
        if meta_str(&new, "uid").is_empty() {
            copy_meta(&mut new, old, "uid");
        }
        meta::remove_meta(&mut new, "selfLink");
        set_meta(
            &mut new,
            "resourceVersion",
            meta_str(old, "resourceVersion"),
        );
        self.strategy.prepare_for_update(info, &mut new, old)?;
        if meta::spec_part(&new) != meta::spec_part(old) {
            let generation = meta::metadata(old)
                .and_then(|m| m.get("generation"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            set_meta(&mut new, "generation", generation + 1);
        }
        if let Some(manager) = manager {
            manager.record(info, &mut new, Some(old), self.clock.now())?;
        }

        meta::object_meta(&new)?;
        let errs = self.strategy.validate_update(info, &new, old);
        if !errs.is_empty() {
            return Err(invalid(info, &name, &errs));
        }
        self.strategy.canonicalize(info, &mut new);
        if should_delete(info, &new) {
            return Ok(Change::Delete(new));
        }
        if new == *old {
            return Ok(Change::Keep(new));
        }
        Ok(Change::Write(new))
    }

    /// Reads the object, asks `change` what to do, and does it, retrying on conflicts. With
    /// `admit`, an update's candidate is admitted before it is written, and a delete admits the
    /// stored object before `change` sees it (each attempt again).
    pub(super) async fn read_modify_write<F>(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        name: &str,
        dry_run: bool,
        admit: Option<(&admission::Request<'_>, Operation)>,
        mut change: F,
    ) -> Result<UpdateOutcome, StatusError>
    where
        F: FnMut(&Value) -> Result<Change, StatusError> + Send,
    {
        let key = key::object_key(info, namespace, name);
        let mut current = None;
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let kv = match current.take() {
                Some(kv) => kv,
                None => self
                    .store
                    .get(&key)
                    .await
                    .map_err(|e| store_error(e, info, name))?
                    .ok_or_else(|| StatusError::not_found(&info.group, &info.plural, name))?,
            };
            let old = decode(info, &kv)?;
            if let Some((admit, Operation::Delete)) = admit {
                let mut attrs = admit.attributes(info, Operation::Delete, namespace, name, dry_run);
                attrs.old_object = Some(old.clone());
                admit.chain.admit(&mut attrs, self).await?;
                admit.chain.validate(&mut attrs, self).await?;
                admit.keep_warnings(&mut attrs);
            }
            let mut next = change(&old)?;
            if let Some((admit, Operation::Update)) = admit {
                next = self.admit_update(info, admit, next, &old, dry_run).await?;
            }
            let result = match next {
                Change::Keep(obj) => return Ok(UpdateOutcome::Unchanged(obj)),
                Change::Write(mut obj) if dry_run => {
                    super::set_type(info, &mut obj);
                    return Ok(UpdateOutcome::Updated(obj));
                }
                Change::Delete(obj) if dry_run => return Ok(UpdateOutcome::Deleted(obj)),
                Change::Write(mut obj) => {
                    let allocator = self
                        .allocator
                        .as_ref()
                        .filter(|_| super::create::is_service(info));
                    let taken = match allocator {
                        Some(allocator) => allocator.allocate_update(&mut obj, &old).await?,
                        None => Vec::new(),
                    };
                    match self
                        .store
                        .update(&key, encode(info, &obj)?, kv.mod_revision)
                        .await
                    {
                        Ok(revision) => {
                            if let Some(allocator) = allocator {
                                allocator.release_dropped(&old, &obj).await;
                            }
                            set_meta(&mut obj, "resourceVersion", revision.to_string());
                            // Answered at the request's version, whatever it is stored at.
                            super::set_type(info, &mut obj);
                            return Ok(UpdateOutcome::Updated(obj));
                        }
                        Err(e) => {
                            if let Some(allocator) = allocator {
                                allocator.release_keys(&taken).await;
                            }
                            e
                        }
                    }
                }
                Change::Delete(obj) => match self.store.delete(&key, Some(kv.mod_revision)).await {
                    Ok(_) => {
                        if let Some(allocator) = &self.allocator
                            && super::create::is_service(info)
                        {
                            allocator.release(&old).await;
                        }
                        return Ok(UpdateOutcome::Deleted(obj));
                    }
                    Err(e) => e,
                },
            };
            match result {
                kube_store::Error::Conflict { current: now, .. } => current = Some(*now),
                other => return Err(store_error(other, info, name)),
            }
        }
        Err(StatusError::conflict(&info.group, &info.plural, name))
    }
}

/// Applies the status subresource rules: the main resource of a kind with a status
/// subresource keeps the stored status; a status write changes only status (and may carry a
/// resourceVersion precondition); a namespace's `finalize` changes only `spec.finalizers`.
pub(super) fn merge_subresource(
    info: &ResourceInfo,
    subresource: &str,
    old: &Value,
    given: Value,
) -> Value {
    match subresource {
        "status" => {
            let mut new = old.clone();
            copy_field(&mut new, &given, "status");
            copy_meta(&mut new, &given, "managedFields");
            set_meta(
                &mut new,
                "resourceVersion",
                meta_str(&given, "resourceVersion"),
            );
            new
        }
        "finalize" => {
            let mut new = old.clone();
            copy_meta(&mut new, &given, "managedFields");
            let finalizers = given
                .pointer("/spec/finalizers")
                .cloned()
                .unwrap_or(Value::Array(Vec::new()));
            if let Some(spec) = new
                .as_object_mut()
                .map(|o| {
                    o.entry("spec")
                        .or_insert_with(|| Value::Object(Default::default()))
                })
                .and_then(Value::as_object_mut)
            {
                spec.insert("finalizers".to_owned(), finalizers);
            }
            set_meta(
                &mut new,
                "resourceVersion",
                meta_str(&given, "resourceVersion"),
            );
            new
        }
        _ => {
            let mut new = given;
            if info.subresource("status").is_some() {
                copy_field(&mut new, old, "status");
            }
            new
        }
    }
}

/// Whether an object being deleted has nothing left holding it: no finalizers (and, for a
/// namespace, no spec finalizers) and no grace period still running.
pub(super) fn should_delete(info: &ResourceInfo, obj: &Value) -> bool {
    if meta_str(obj, "deletionTimestamp").is_empty() || !meta::finalizers(obj).is_empty() {
        return false;
    }
    let grace = meta::metadata(obj)
        .and_then(|m| m.get("deletionGracePeriodSeconds"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if grace > 0 {
        return false;
    }
    let spec_finalizers = obj
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    !(info.group.is_empty() && info.plural == "namespaces" && spec_finalizers)
}
