//! The ownership bookkeeping of a write (upstream's `merge.Updater`): an update takes the
//! fields it changes from everyone; an apply merges, prunes what its manager stopped
//! applying, and conflicts with other owners of the fields whose values it changes.

use std::fmt;

use serde_json::Value;

use super::fields::{Comparison, compare, field_set};
use super::managers::{ManagedEntry, ManagerId, Managers};
use super::merge::{merge, prune};
use super::path::{Path, PathElement};
use super::set::FieldSet;
use super::typed::Type;
use super::{Error, Result};

/// Which part of an object a write may own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The whole object.
    Object,
    /// The main resource of a kind with a status subresource: everything but `status`.
    MainResource,
    /// The status subresource: only `status`.
    Status,
}

/// The bookkeeping of writes to objects of one type.
#[derive(Clone, Debug)]
pub struct Updater {
    /// The type of the objects.
    pub ty: Type,
    /// Which part of the object the writes may own.
    pub scope: Scope,
    /// The time new or changed entries are stamped with.
    pub now: String,
}

/// One field another manager owns that an apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The owner.
    pub manager: ManagerId,
    /// The field.
    pub path: Path,
}

/// The conflicts of an apply, sorted by manager, then path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflicts(pub Vec<Conflict>);

impl fmt::Display for Conflicts {
    /// Upstream's message: `Apply failed with 1 conflict: conflict with "mgr" using apps/v1:
    /// .spec.replicas`, or for several, one line per path under each manager.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [c] = self.0.as_slice() {
            return write!(
                f,
                "Apply failed with 1 conflict: conflict with {}: {}",
                c.manager, c.path
            );
        }
        let mut lines = Vec::new();
        let mut last: Option<&ManagerId> = None;
        for c in &self.0 {
            if last != Some(&c.manager) {
                lines.push(format!("conflicts with {}:", c.manager));
                last = Some(&c.manager);
            }
            lines.push(format!("- {}", c.path));
        }
        write!(
            f,
            "Apply failed with {} conflicts: {}",
            self.0.len(),
            lines.join("\n")
        )
    }
}

/// Paths no manager owns: the type and the system fields of metadata.
fn stripped() -> FieldSet {
    let mut set = FieldSet::from_paths(&[
        Path::fields(&["apiVersion"]),
        Path::fields(&["kind"]),
        Path::fields(&["metadata"]),
    ]);
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&Path::fields(&["metadata", name]).0);
    }
    set
}

impl Updater {
    /// `set` without what no manager owns and what this scope may not own.
    pub fn clean(&self, set: &FieldSet) -> FieldSet {
        let set = set.difference(&stripped());
        let status = PathElement::Field("status".to_owned());
        match self.scope {
            Scope::Object => set,
            Scope::MainResource => {
                set.recursive_difference(&FieldSet::from_paths(&[Path::fields(&["status"])]))
            }
            Scope::Status => set.only(&status),
        }
    }

    fn clean_comparison(&self, c: &Comparison) -> Comparison {
        Comparison {
            added: self.clean(&c.added),
            modified: self.clean(&c.modified),
            removed: self.clean(&c.removed),
        }
    }

    /// Records `id`'s entry with `set`, keeping the old time when the set did not change.
    fn record(
        &self,
        managers: &mut Managers,
        before: &Managers,
        id: &ManagerId,
        set: FieldSet,
        api_version: &str,
    ) {
        let time = match before.0.get(id) {
            Some(prev) if prev.set == set => prev.time.clone(),
            _ => Some(self.now.clone()),
        };
        managers.0.insert(
            id.clone(),
            ManagedEntry {
                set,
                api_version: api_version.to_owned(),
                time,
            },
        );
        managers.0.retain(|_, e| !e.set.is_empty());
    }

    /// The entries after a non-apply write by `id` changed `live` into `new`: the writer
    /// owns what it added or modified (taken from any other owner); removed fields leave
    /// every owner.
    pub fn update(
        &self,
        live: &Value,
        new: &Value,
        managers: &Managers,
        id: &ManagerId,
        api_version: &str,
    ) -> Managers {
        let c = self.clean_comparison(&compare(live, new, self.ty));
        let changed = c.added.union(&c.modified);
        let mut out = managers.clone();
        for (other, entry) in out.0.iter_mut() {
            if other != id {
                entry.set = entry.set.difference(&changed).difference(&c.removed);
            }
        }
        let previous = out.0.get(id).map(|e| e.set.clone()).unwrap_or_default();
        let set = self.clean(&previous.difference(&c.removed).union(&changed));
        self.record(&mut out, managers, id, set, api_version);
        out
    }

    /// Applies `config` to `live` for `id`: returns the merged object and the entries.
    /// Fails with [`Error::Conflicts`] when, without `force`, the apply changes fields other
    /// managers own; with `force` it takes them.
    pub fn apply(
        &self,
        live: &Value,
        config: &Value,
        managers: &Managers,
        id: &ManagerId,
        api_version: &str,
        force: bool,
    ) -> Result<(Value, Managers)> {
        let config_set = self.clean(&field_set(config, self.ty)?);
        let mut merged = merge(live, config, self.ty);
        let last = managers
            .0
            .get(id)
            .map(|e| e.set.clone())
            .unwrap_or_default();
        let mut out = managers.clone();
        out.0.insert(
            id.clone(),
            ManagedEntry {
                set: config_set.clone(),
                api_version: api_version.to_owned(),
                time: None,
            },
        );
        let remove = last.difference(&config_set);
        if !remove.is_empty() {
            prune(&mut merged, &remove, &out.owned(), self.ty);
        }
        let c = self.clean_comparison(&compare(live, &merged, self.ty));
        let changed = c.added.union(&c.modified);
        let mut conflicts = Vec::new();
        for (other, entry) in &out.0 {
            if other == id {
                continue;
            }
            for path in entry.set.intersection(&changed).paths() {
                conflicts.push(Conflict {
                    manager: other.clone(),
                    path,
                });
            }
        }
        if !force && !conflicts.is_empty() {
            conflicts.sort_by(|a, b| a.manager.cmp(&b.manager).then_with(|| a.path.cmp(&b.path)));
            return Err(Error::Conflicts(Box::new(Conflicts(conflicts))));
        }
        for (other, entry) in out.0.iter_mut() {
            if other != id {
                entry.set = entry.set.difference(&changed).difference(&c.removed);
            }
        }
        self.record(&mut out, managers, id, config_set, api_version);
        Ok((merged, out))
    }
}
