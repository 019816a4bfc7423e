//! Authentication: who sent a request.
//!
//! An [`Authenticator`] reads a request's credentials (client certificate, bearer token, ...)
//! and answers with a [`UserInfo`], with nothing (no credentials it understands), or with an
//! error (credentials it rejects). [`Authentication`] runs a chain of them as upstream's
//! union does: the first user wins; a rejected credential means 401 even where an anonymous
//! request would be let in; a request without credentials is anonymous
//! (`system:anonymous` in `system:unauthenticated`) where the [`Anonymous`] policy allows it,
//! else 401. Authenticated users get the `system:authenticated` group.
//!
//! Authenticators: [`x509::X509`] (client certificates), [`bearer::BearerToken`] over
//! [`bearer::TokenAuthenticator`]s: [`token_file::TokenFile`] and
//! [`service_account::ServiceAccountTokens`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use kube_core::status::StatusError;
use serde_json::{Value, json};

pub mod bearer;
pub mod service_account;
pub mod token_file;
pub mod x509;

/// The user name of requests without credentials.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// The group of requests without credentials.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// The group every authenticated user is in.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The group whose members may do anything (upstream's superuser group).
pub const SYSTEM_MASTERS_GROUP: &str = "system:masters";
/// The paths anonymous requests may read under [`Anonymous::public_info`]: what upstream's
/// `system:public-info-viewer` role grants to everyone.
pub const PUBLIC_INFO_PATHS: [&str; 4] = ["/healthz", "/livez", "/readyz", "/version"];

/// The result of this module's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why presented credentials were rejected. Each becomes 401 Unauthorized; the reason is
/// logged, never sent to the client (as upstream).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bearer token that no token authenticator knows.
    #[error("invalid bearer token")]
    InvalidBearerToken,
    /// A client certificate that does not verify against the client CA (other CA, expired,
    /// not for client authentication).
    #[error("verifying the client certificate failed: {0}")]
    Certificate(#[source] rustls::Error),
    /// A client certificate that cannot be parsed.
    #[error("the client certificate cannot be parsed: {0}")]
    UnreadableCertificate(String),
    /// A verified client certificate whose subject has no common name.
    #[error("the client certificate has no common name")]
    NoCommonName,
    /// Another authenticator's reason.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

/// Who sent a request: upstream's `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    /// The user name (`admin`, `system:serviceaccount:default:builder`).
    pub name: String,
    /// A unique id, if the authenticator knows one.
    pub uid: String,
    /// The groups the user is in.
    pub groups: Vec<String>,
    /// Further attributes the authenticator provides.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user named `name` in `groups`.
    pub fn new(
        name: impl Into<String>,
        groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            name: name.into(),
            groups: groups.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> Self {
        Self::new(ANONYMOUS_USER, [UNAUTHENTICATED_GROUP])
    }

    /// Whether this is the anonymous user.
    pub fn is_anonymous(&self) -> bool {
        self.name == ANONYMOUS_USER
    }

    /// Adds `system:authenticated`, unless present or anonymous (upstream's
    /// AuthenticatedGroupAdder).
    fn with_authenticated_group(mut self) -> Self {
        let skip = self.is_anonymous()
            || self
                .groups
                .iter()
                .any(|g| g == AUTHENTICATED_GROUP || g == UNAUTHENTICATED_GROUP);
        if !skip {
            self.groups.push(AUTHENTICATED_GROUP.to_owned());
        }
        self
    }

    /// As an authentication.k8s.io/v1 `UserInfo` (empty fields left out).
    pub fn to_json(&self) -> Value {
        let mut out = json!({"username": self.name});
        if !self.uid.is_empty() {
            out["uid"] = json!(self.uid);
        }
        if !self.groups.is_empty() {
            out["groups"] = json!(self.groups);
        }
        if !self.extra.is_empty() {
            out["extra"] = json!(self.extra);
        }
        out
    }
}

/// Reads a request's credentials.
///
/// # Contract
/// - `Ok(Some(user))`: the credentials are valid and belong to `user`.
/// - `Ok(None)`: the request carries no credentials this authenticator understands; the next
///   one is asked.
/// - `Err(_)`: it carries credentials this authenticator rejects. The request gets 401 unless a
///   later authenticator accepts other credentials of it.
///
/// Implementations must not block: they run on the request path.
#[async_trait::async_trait]
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// Who sent `request`, judged from its headers and extensions (the client's
    /// [`PeerCertificates`](super::tls::PeerCertificates)).
    async fn authenticate(&self, request: &http::request::Parts) -> Result<Option<UserInfo>>;
}

/// When a request without credentials is let in as anonymous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anonymous {
    /// Always (upstream's `--anonymous-auth=true`; with no authorizer yet, anonymous requests
    /// may do anything).
    Enabled,
    /// Never (401 for every request without credentials).
    Disabled,
    /// Only on these paths and their subpaths (upstream's anonymous `conditions` of the
    /// AuthenticationConfiguration).
    Paths(Vec<String>),
}

impl Anonymous {
    /// Only the health checks and `/version` ([`PUBLIC_INFO_PATHS`]).
    pub fn public_info() -> Self {
        Self::Paths(PUBLIC_INFO_PATHS.iter().map(|p| (*p).to_owned()).collect())
    }

    /// Whether an anonymous request for `path` is let in.
    pub fn allows(&self, path: &str) -> bool {
        match self {
            Self::Enabled => true,
            Self::Disabled => false,
            Self::Paths(paths) => {
                let path = path.trim_end_matches('/');
                paths.iter().any(|p| {
                    path == p
                        || path
                            .strip_prefix(p.as_str())
                            .is_some_and(|rest| rest.starts_with('/'))
                })
            }
        }
    }
}

/// The authentication chain of a server.
#[derive(Debug, Clone)]
pub struct Authentication {
    /// Asked in order; the first user wins.
    pub authenticators: Vec<Arc<dyn Authenticator>>,
    /// When requests without credentials get in.
    pub anonymous: Anonymous,
}

impl Default for Authentication {
    /// No authenticators, every request anonymous and let in: for in-process embedders and
    /// tests. A server on a network wants [`Authentication::new`].
    fn default() -> Self {
        Self {
            authenticators: Vec::new(),
            anonymous: Anonymous::Enabled,
        }
    }
}

impl Authentication {
    /// No authenticators yet, anonymous requests only to [`Anonymous::public_info`].
    pub fn new() -> Self {
        Self {
            authenticators: Vec::new(),
            anonymous: Anonymous::public_info(),
        }
    }

    /// Adds `authenticator` at the end of the chain.
    pub fn with(mut self, authenticator: impl Authenticator + 'static) -> Self {
        self.authenticators.push(Arc::new(authenticator));
        self
    }

    /// Sets the anonymous policy.
    pub fn with_anonymous(mut self, anonymous: Anonymous) -> Self {
        self.anonymous = anonymous;
        self
    }

    /// Who sent `request`, or 401 Unauthorized (upstream's Status: message `Unauthorized`).
    pub async fn authenticate(
        &self,
        request: &http::request::Parts,
    ) -> Result<UserInfo, StatusError> {
        let mut rejected = false;
        for authenticator in &self.authenticators {
            match authenticator.authenticate(request).await {
                Ok(Some(user)) => return Ok(user.with_authenticated_group()),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(path = %request.uri.path(), error = %e, "credentials rejected");
                    rejected = true;
                }
            }
        }
        if !rejected && self.anonymous.allows(request.uri.path()) {
            return Ok(UserInfo::anonymous());
        }
        Err(StatusError::unauthorized("Unauthorized"))
    }

    /// Who `token` belongs to as a bearer token (TokenReview): `Ok(None)` when no
    /// authenticator knows it, the rejection otherwise. Anonymous never applies.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<UserInfo>> {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        let value = http::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Error::InvalidBearerToken)?;
        parts.headers.insert(http::header::AUTHORIZATION, value);
        let mut rejected = None;
        for authenticator in &self.authenticators {
            match authenticator.authenticate(&parts).await {
                Ok(Some(user)) => return Ok(Some(user.with_authenticated_group())),
                Ok(None) => {}
                Err(e) => rejected = Some(e),
            }
        }
        rejected.map_or(Ok(None), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_info_paths_include_subpaths_only() {
        let a = Anonymous::public_info();
        for path in [
            "/healthz",
            "/healthz/",
            "/livez/ping",
            "/readyz",
            "/version",
            "/version/",
        ] {
            assert!(a.allows(path), "{path}");
        }
        for path in ["/healthzz", "/api/v1/pods", "/", "/versions", "/apis"] {
            assert!(!a.allows(path), "{path}");
        }
    }

    #[test]
    fn authenticated_group_is_added_once() {
        let user = UserInfo::new("jane", ["dev"]).with_authenticated_group();
        assert_eq!(user.groups, ["dev", AUTHENTICATED_GROUP]);
        assert_eq!(user.clone().with_authenticated_group(), user);
        assert_eq!(
            UserInfo::anonymous().with_authenticated_group().groups,
            [UNAUTHENTICATED_GROUP]
        );
    }
}
