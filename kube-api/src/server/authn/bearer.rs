//! Bearer tokens: `Authorization: Bearer TOKEN`, judged by a list of token authenticators.
//!
//! The [`TokenAuthenticator`] seam takes the static token file today and the service-account
//! tokens (signed with the service-account key) next.

use std::fmt;
use std::sync::Arc;

use super::{Authenticator, Error, Result, UserInfo};

/// Judges one bearer token.
///
/// # Contract
/// - `Ok(Some(user))`: the token is valid and belongs to `user`.
/// - `Ok(None)`: not a token this authenticator issued; the next one is asked. A token that
///   none knows is rejected.
/// - `Err(_)`: a token of this authenticator that is invalid (expired, revoked, ...).
#[async_trait::async_trait]
pub trait TokenAuthenticator: Send + Sync + fmt::Debug {
    /// Who `token` belongs to.
    async fn authenticate_token(&self, token: &str) -> Result<Option<UserInfo>>;
}

/// The bearer-token authenticator over its token authenticators, asked in order.
#[derive(Debug, Clone, Default)]
pub struct BearerToken {
    tokens: Vec<Arc<dyn TokenAuthenticator>>,
}

impl BearerToken {
    /// No token authenticators yet (every token is rejected).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tokens` at the end.
    pub fn with(mut self, tokens: impl TokenAuthenticator + 'static) -> Self {
        self.tokens.push(Arc::new(tokens));
        self
    }
}

/// The token of an `Authorization: Bearer TOKEN` header (scheme case-insensitive), as
/// upstream reads it: anything else, or an empty token, is no bearer token.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let mut parts = value.trim().splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[async_trait::async_trait]
impl Authenticator for BearerToken {
    async fn authenticate(&self, request: &http::request::Parts) -> Result<Option<UserInfo>> {
        let Some(token) = bearer_token(&request.headers) else {
            return Ok(None);
        };
        let mut rejected = None;
        for tokens in &self.tokens {
            match tokens.authenticate_token(token).await {
                Ok(Some(user)) => return Ok(Some(user)),
                Ok(None) => {}
                Err(e) => rejected = Some(e),
            }
        }
        Err(rejected.unwrap_or(Error::InvalidBearerToken))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn reads_the_bearer_scheme_only() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer abc extra")), Some("abc"));
        assert_eq!(bearer_token(&headers("Basic YTpi")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&headers("Bearer  ")), None);
        assert_eq!(bearer_token(&http::HeaderMap::new()), None);
    }
}
