//! Field sets: the fields a manager owns, as a tree of path elements.

use std::collections::{BTreeMap, BTreeSet};

use super::path::{Path, PathElement};

/// A set of paths, stored as a tree: `members` are the paths ending here, `children` the
/// sets under each element. Upstream's `fieldpath.Set`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding `paths`.
    pub fn from_paths<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Self {
        let mut set = Self::new();
        for p in paths {
            set.insert(&p.0);
        }
        set
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path. The empty path is not a member of anything and is ignored.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path` is a member.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Whether `path` or any path below it is a member.
    pub fn has_prefix(&self, path: &[PathElement]) -> bool {
        match path {
            [] => !self.is_empty(),
            [first, rest @ ..] => {
                (rest.is_empty() && self.members.contains(first))
                    || self.children.get(first).is_some_and(|c| c.has_prefix(rest))
            }
        }
    }

    /// The members ending directly here.
    pub fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    /// The sets under each element.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    /// Whether `element` is a member here.
    pub fn has_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    /// The set under `element`, if any.
    pub fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element)
    }

    /// Adds the set under `element` (merging with what is there).
    pub fn insert_child(&mut self, element: PathElement, set: FieldSet) {
        if set.is_empty() {
            return;
        }
        let entry = self.children.entry(element).or_default();
        *entry = entry.union(&set);
    }

    /// Adds `element` as a member here.
    pub fn insert_member(&mut self, element: PathElement) {
        self.members.insert(element);
    }

    /// Every member path, in order (members of a node before its children).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(Path(p));
        }
        for (e, c) in &self.children {
            prefix.push(e.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (e, c) in &other.children {
            let merged = match out.children.get(e) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(e.clone(), merged);
        }
        out
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (e, c) in &self.children {
            if let Some(o) = other.children.get(e) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    children.insert(e.clone(), i);
                }
            }
        }
        FieldSet { members, children }
    }

    /// The paths of this set that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (e, c) in &self.children {
            let d = match other.children.get(e) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                children.insert(e.clone(), d);
            }
        }
        FieldSet { members, children }
    }

    /// The paths of this set that neither are in `other` nor lie under a member of `other`.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (e, c) in &self.children {
            if other.members.contains(e) {
                continue;
            }
            let d = match other.children.get(e) {
                Some(o) => c.recursive_difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                children.insert(e.clone(), d);
            }
        }
        FieldSet { members, children }
    }

    /// Only the part of this set under `element` (the element itself included).
    pub fn only(&self, element: &PathElement) -> FieldSet {
        let mut out = FieldSet::new();
        if self.members.contains(element) {
            out.members.insert(element.clone());
        }
        if let Some(c) = self.children.get(element) {
            out.children.insert(element.clone(), c.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(names: &[&str]) -> Path {
        Path::fields(names)
    }

    #[test]
    fn set_algebra() {
        let a = FieldSet::from_paths(&[p(&["spec", "replicas"]), p(&["spec", "paused"])]);
        let b = FieldSet::from_paths(&[p(&["spec", "replicas"]), p(&["metadata", "labels"])]);
        assert_eq!(
            a.intersection(&b),
            FieldSet::from_paths(&[p(&["spec", "replicas"])])
        );
        assert_eq!(
            a.difference(&b),
            FieldSet::from_paths(&[p(&["spec", "paused"])])
        );
        assert_eq!(a.union(&b).paths().len(), 3);
        let spec = FieldSet::from_paths(&[p(&["spec"])]);
        assert!(a.recursive_difference(&spec).is_empty());
        assert!(a.has_prefix(&p(&["spec"]).0));
        assert!(!a.has(&p(&["spec"]).0));
    }
}
