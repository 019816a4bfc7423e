//! Impersonation, as upstream's filter: `Impersonate-User`, `Impersonate-Group` (repeated),
//! `Impersonate-Uid` and `Impersonate-Extra-KEY` make a request act as another user, when
//! the sender may `impersonate` each of them (`users`, `groups`, `serviceaccounts` for
//! `system:serviceaccount:NS:NAME`, `uids` and `userextras/KEY` in authentication.k8s.io).
//!
//! The impersonated user gets `system:authenticated` (`system:unauthenticated` for
//! `system:anonymous`), and a service account its two groups when no group is named.

use std::collections::BTreeMap;

use http::HeaderMap;
use kube_core::status::StatusError;

use super::{Attributes, Chain};
use crate::server::authn::service_account::{SERVICE_ACCOUNTS_GROUP, USER_PREFIX};
use crate::server::authn::{ANONYMOUS_USER, AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP, UserInfo};

/// The user header.
pub const USER_HEADER: &str = "impersonate-user";
/// The group header (repeated).
pub const GROUP_HEADER: &str = "impersonate-group";
/// The uid header.
pub const UID_HEADER: &str = "impersonate-uid";
/// The prefix of extra headers.
pub const EXTRA_PREFIX: &str = "impersonate-extra-";

/// Whether `headers` ask for impersonation.
pub fn requested(headers: &HeaderMap) -> bool {
    headers.keys().any(|k| {
        let k = k.as_str();
        k == USER_HEADER || k == GROUP_HEADER || k == UID_HEADER || k.starts_with(EXTRA_PREFIX)
    })
}

/// The user `headers` ask to act as, checked against `chain` for `user`; `Ok(None)` without
/// impersonation headers; 400 for groups, uid or extras without a user; 403 when a check
/// fails (upstream's message: `users "bob" is forbidden: User "alice" cannot impersonate
/// resource "users" in API group "" at the cluster scope`).
pub async fn impersonate(
    chain: &Chain,
    user: &UserInfo,
    headers: &HeaderMap,
) -> Result<Option<UserInfo>, StatusError> {
    if !requested(headers) {
        return Ok(None);
    }
    let text = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    };
    let name = text(USER_HEADER).into_iter().next().unwrap_or_default();
    let groups = text(GROUP_HEADER);
    let uid = text(UID_HEADER).into_iter().next().unwrap_or_default();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in headers.keys() {
        if let Some(k) = key.as_str().strip_prefix(EXTRA_PREFIX) {
            let k = percent_decode(k);
            extra.insert(k, text(key.as_str()));
        }
    }
    if name.is_empty() {
        return Err(StatusError::bad_request(
            "requested impersonation without a user: Impersonate-User is required with Impersonate-Group, Impersonate-Uid or Impersonate-Extra",
        ));
    }
    let mut checks: Vec<Attributes> = Vec::new();
    let user_check = match name
        .strip_prefix(USER_PREFIX)
        .and_then(|rest| rest.split_once(':'))
    {
        Some((ns, sa)) => Attributes::resource(user, "impersonate", "", "serviceaccounts", ns, sa),
        None => Attributes::resource(user, "impersonate", "", "users", "", &name),
    };
    checks.push(user_check);
    for g in &groups {
        checks.push(Attributes::resource(
            user,
            "impersonate",
            "",
            "groups",
            "",
            g,
        ));
    }
    if !uid.is_empty() {
        checks.push(Attributes::resource(
            user,
            "impersonate",
            "authentication.k8s.io",
            "uids",
            "",
            &uid,
        ));
    }
    for (k, values) in &extra {
        for v in values {
            let mut a = Attributes::resource(
                user,
                "impersonate",
                "authentication.k8s.io",
                "userextras",
                "",
                v,
            );
            a.subresource = k.clone();
            checks.push(a);
        }
    }
    for a in &checks {
        chain.check(a).await?;
    }
    let mut groups = groups;
    if groups.is_empty()
        && let Some((ns, _)) = name
            .strip_prefix(USER_PREFIX)
            .and_then(|rest| rest.split_once(':'))
    {
        groups.push(SERVICE_ACCOUNTS_GROUP.to_owned());
        groups.push(format!("{SERVICE_ACCOUNTS_GROUP}:{ns}"));
    }
    let added = if name == ANONYMOUS_USER {
        UNAUTHENTICATED_GROUP
    } else {
        AUTHENTICATED_GROUP
    };
    if !groups.iter().any(|g| g == added) {
        groups.push(added.to_owned());
    }
    Ok(Some(UserInfo {
        name,
        uid,
        groups,
        extra,
    }))
}

/// Decodes `%XX` escapes (extra keys are percent-encoded in header names).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_keys_are_percent_decoded() {
        assert_eq!(percent_decode("scopes"), "scopes");
        assert_eq!(percent_decode("example.com%2fscope"), "example.com/scope");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
    }
}
