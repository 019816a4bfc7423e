//! Service-account tokens: JWTs signed with the service-account key (ES256, the P-256 key
//! the PKI keeps in `sa.key`), with upstream's claims, verified as bearer tokens.
//!
//! A token names `system:serviceaccount:NAMESPACE:NAME` (groups `system:serviceaccounts`
//! and `system:serviceaccounts:NAMESPACE`). [`ServiceAccountTokens::issue_request`] is what
//! the TokenRequest API calls. After the signature and expiry verify, the objects a token
//! names are looked up through the [`TokenGetter`] the server sets
//! ([`ServiceAccountTokens::set_getter`]), as upstream's validator does: a token whose service
//! account, bound pod or bound secret is gone, has another uid, or was deleted more than
//! [`DELETION_GRACE_SECONDS`] ago is rejected. Without a getter (tokens verified outside a
//! server) only the signature, expiry and audience are checked.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::KeyPair as _;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivatePkcs8KeyDer, SubjectPublicKeyInfoDer};
use serde::{Deserialize, Serialize};

use super::bearer::TokenAuthenticator;
use super::{Error as AuthError, Result as AuthResult, UserInfo};
use crate::server::clock::Clock;

/// kubeadm's issuer (`--service-account-issuer`), also the default audience.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The group of every service account.
pub const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
/// The user-name prefix of service accounts.
pub const USER_PREFIX: &str = "system:serviceaccount:";
/// How long after its deletion timestamp an object still backs the tokens bound to it
/// (upstream's 60 seconds; a pod's deletion timestamp is the end of its grace period).
pub const DELETION_GRACE_SECONDS: i64 = 60;

/// The result of this module's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of loading keys, issuing and verifying tokens.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key is not a P-256 key in PEM (PKCS#8 private, SubjectPublicKeyInfo public).
    #[error("the service-account key is unusable: {0}")]
    Key(String),
    /// Signing failed.
    #[error("signing the token failed")]
    Sign,
    /// The token's signature does not verify.
    #[error("the token's signature is invalid")]
    Signature,
    /// The token has expired or is not valid yet.
    #[error("the token is expired or not yet valid")]
    Expired,
    /// The token is not for any of the server's audiences.
    #[error("the token audiences are not acceptable")]
    Audience,
    /// The token's claims are malformed.
    #[error("the token's claims are malformed: {0}")]
    Claims(String),
    /// An object the token names (service account, bound pod or secret) is gone, was
    /// recreated with another uid, or has been deleted.
    #[error("the token has been invalidated: {0}")]
    Invalidated(String),
    /// The objects the token names could not be looked up.
    #[error("looking up the token's objects failed: {0}")]
    Lookup(String),
}

impl From<Error> for AuthError {
    fn from(e: Error) -> Self {
        AuthError::Other(Box::new(e))
    }
}

/// A reference to a service account (or a pod) in the `kubernetes.io` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ObjectRef {
    /// Its name.
    pub name: String,
    /// Its uid.
    #[serde(default)]
    pub uid: String,
}

/// The `kubernetes.io` private claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KubernetesClaim {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub serviceaccount: ObjectRef,
    /// The pod the token is bound to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    /// The secret the token is bound to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
}

/// The kinds of object a token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenObject {
    /// The token's service account.
    ServiceAccount,
    /// The pod the token is bound to.
    Pod,
    /// The secret the token is bound to.
    Secret,
}

impl TokenObject {
    /// The kind's resource name (`serviceaccounts`, `pods`, `secrets`).
    pub fn resource(self) -> &'static str {
        match self {
            Self::ServiceAccount => "serviceaccounts",
            Self::Pod => "pods",
            Self::Secret => "secrets",
        }
    }
}

/// What the validation needs of a live object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveObject {
    /// Its uid.
    pub uid: String,
    /// Its deletion timestamp, in Unix seconds, if it is being deleted.
    pub deletion_timestamp: Option<i64>,
}

/// Looks up the objects a service-account token names, after its signature verifies.
///
/// # Contract
/// - `Ok(Some(_))`: the object exists now, with this uid and deletion timestamp.
/// - `Ok(None)`: it does not exist; the token is rejected.
/// - `Err(_)`: it could not be looked up; the token is rejected (401), never let in.
///
/// Calls run on the request path of every request with a service-account token: one read
/// each, no writes.
#[async_trait::async_trait]
pub trait TokenGetter: Send + Sync + std::fmt::Debug {
    /// The object of `kind` named `name` in `namespace`.
    async fn get(
        &self,
        kind: TokenObject,
        namespace: &str,
        name: &str,
    ) -> Result<Option<LiveObject>, String>;
}

/// What a token is issued for (a TokenRequest's spec, resolved).
#[derive(Debug, Clone, Default)]
pub struct TokenSpec {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: ObjectRef,
    /// The audiences; empty means the server's.
    pub audiences: Vec<String>,
    /// How long the token is valid from now.
    pub expiration_seconds: i64,
    /// The pod it is bound to.
    pub pod: Option<ObjectRef>,
    /// The secret it is bound to.
    pub secret: Option<ObjectRef>,
}

/// The claims of a service-account token (upstream's names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The issuer.
    pub iss: String,
    /// `system:serviceaccount:NAMESPACE:NAME`.
    pub sub: String,
    /// The audiences.
    pub aud: Vec<String>,
    /// Expiry, in Unix seconds.
    pub exp: i64,
    /// Issued at, in Unix seconds.
    pub iat: i64,
    /// Not before, in Unix seconds.
    pub nbf: i64,
    /// The token's id.
    #[serde(default)]
    pub jti: String,
    /// The service account (and pod).
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
}

/// Issues and verifies service-account tokens.
#[derive(Clone)]
pub struct ServiceAccountTokens {
    issuer: String,
    audiences: Vec<String>,
    signing: Option<Arc<EcdsaKeyPair>>,
    verifying: Vec<u8>,
    clock: Arc<dyn Clock>,
    getter: Arc<OnceLock<Arc<dyn TokenGetter>>>,
}

impl std::fmt::Debug for ServiceAccountTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountTokens")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("can_issue", &self.signing.is_some())
            .field("checks_objects", &self.getter.get().is_some())
            .finish_non_exhaustive()
    }
}

impl ServiceAccountTokens {
    /// Tokens of `issuer` (also the one accepted audience), verified with the P-256 public key
    /// `public_pem` and, with `private_pem`, issued with its private key.
    pub fn new(
        issuer: &str,
        public_pem: &str,
        private_pem: Option<&str>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let spki = SubjectPublicKeyInfoDer::from_pem_slice(public_pem.as_bytes())
            .map_err(|e| Error::Key(e.to_string()))?;
        let verifying = public_point(&spki)?;
        let signing = match private_pem {
            Some(pem) => {
                let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
                    .map_err(|e| Error::Key(e.to_string()))?;
                let pair = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    der.secret_pkcs8_der(),
                    &SystemRandom::new(),
                )
                .map_err(|e| Error::Key(e.to_string()))?;
                if pair.public_key().as_ref() != verifying.as_slice() {
                    return Err(Error::Key("the private and public keys differ".to_owned()));
                }
                Some(Arc::new(pair))
            }
            None => None,
        };
        Ok(Self {
            issuer: issuer.to_owned(),
            audiences: vec![issuer.to_owned()],
            signing,
            verifying,
            clock,
            getter: Arc::new(OnceLock::new()),
        })
    }

    /// Looks up the objects of verified tokens through `getter` from now on, in this value
    /// and every clone of it (the authenticator in the chain and the server's issuer are
    /// clones). The first getter set stays; returns false if one was set already.
    pub fn set_getter(&self, getter: Arc<dyn TokenGetter>) -> bool {
        self.getter.set(getter).is_ok()
    }

    /// Whether this can issue tokens (it has the private key).
    pub fn can_issue(&self) -> bool {
        self.signing.is_some()
    }

    /// The server's audiences: what tokens are issued for by default and what verification
    /// accepts.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A token for the service account `name` in `namespace` (uid `uid`), for the server's
    /// audience, valid for `seconds` from now.
    pub fn issue(&self, namespace: &str, name: &str, uid: &str, seconds: i64) -> Result<String> {
        let spec = TokenSpec {
            namespace: namespace.to_owned(),
            service_account: ObjectRef {
                name: name.to_owned(),
                uid: uid.to_owned(),
            },
            expiration_seconds: seconds,
            ..TokenSpec::default()
        };
        Ok(self.issue_request(&spec)?.0)
    }

    /// A token for `spec`, and its expiry in Unix seconds.
    pub fn issue_request(&self, spec: &TokenSpec) -> Result<(String, i64)> {
        let now = self.clock.now().as_second();
        let audiences = if spec.audiences.is_empty() {
            self.audiences.clone()
        } else {
            spec.audiences.clone()
        };
        let exp = now.saturating_add(spec.expiration_seconds);
        let token = self.sign(&Claims {
            iss: self.issuer.clone(),
            sub: format!(
                "{USER_PREFIX}{}:{}",
                spec.namespace, spec.service_account.name
            ),
            aud: audiences,
            exp,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: KubernetesClaim {
                namespace: spec.namespace.clone(),
                serviceaccount: spec.service_account.clone(),
                pod: spec.pod.clone(),
                secret: spec.secret.clone(),
            },
        })?;
        Ok((token, exp))
    }

    /// Checks that the objects `claims` names still back it (see the module docs); a no-op
    /// without a getter.
    pub async fn check_objects(&self, claims: &Claims) -> Result<()> {
        let Some(getter) = self.getter.get() else {
            return Ok(());
        };
        let k = &claims.kubernetes;
        let invalidated_before = self.clock.now().as_second() - DELETION_GRACE_SECONDS;
        let mut refs = vec![(TokenObject::ServiceAccount, &k.serviceaccount)];
        refs.extend(k.secret.iter().map(|s| (TokenObject::Secret, s)));
        refs.extend(k.pod.iter().map(|p| (TokenObject::Pod, p)));
        for (kind, object) in refs {
            let what = format!("{} {}/{}", kind.resource(), k.namespace, object.name);
            let live = getter
                .get(kind, &k.namespace, &object.name)
                .await
                .map_err(Error::Lookup)?
                .ok_or_else(|| Error::Invalidated(format!("{what} does not exist")))?;
            if live
                .deletion_timestamp
                .is_some_and(|t| t < invalidated_before)
            {
                return Err(Error::Invalidated(format!("{what} has been deleted")));
            }
            if live.uid != object.uid {
                return Err(Error::Invalidated(format!(
                    "the uid of {what} ({}) does not match the claim ({})",
                    live.uid, object.uid
                )));
            }
        }
        Ok(())
    }

    /// `claims` as a signed JWT (ES256).
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let pair = self
            .signing
            .as_ref()
            .ok_or_else(|| Error::Key("no private key to sign with".to_owned()))?;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let payload = serde_json::to_vec(claims).map_err(|e| Error::Claims(e.to_string()))?;
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| Error::Sign)?;
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// The claims of `token`: `Ok(None)` when it is not a JWT of this issuer, an error when it
    /// is one that does not verify or is not valid now.
    pub fn verify(&self, token: &str) -> Result<Option<Claims>> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).ok();
        let (Some(header_json), Some(payload_json), Some(signature)) =
            (decode(header), decode(payload), decode(signature))
        else {
            return Ok(None);
        };
        let Ok(header_value) = serde_json::from_slice::<serde_json::Value>(&header_json) else {
            return Ok(None);
        };
        let Ok(claims_value) = serde_json::from_slice::<serde_json::Value>(&payload_json) else {
            return Ok(None);
        };
        // Another issuer's token is for another authenticator.
        if claims_value.get("iss").and_then(|i| i.as_str()) != Some(self.issuer.as_str()) {
            return Ok(None);
        }
        if header_value.get("alg").and_then(|a| a.as_str()) != Some("ES256") {
            return Err(Error::Signature);
        }
        let input_len = header.len() + 1 + payload.len();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.verifying)
            .verify(&token.as_bytes()[..input_len], &signature)
            .map_err(|_| Error::Signature)?;
        let claims: Claims =
            serde_json::from_value(claims_value).map_err(|e| Error::Claims(e.to_string()))?;
        let now = self.clock.now().as_second();
        if now >= claims.exp || now < claims.nbf {
            return Err(Error::Expired);
        }
        if !claims.aud.iter().any(|a| self.audiences.contains(a)) {
            return Err(Error::Audience);
        }
        let prefix = format!("{USER_PREFIX}{}:", claims.kubernetes.namespace);
        if claims.sub.strip_prefix(&prefix) != Some(claims.kubernetes.serviceaccount.name.as_str())
        {
            return Err(Error::Claims(
                "sub does not name the kubernetes.io service account".to_owned(),
            ));
        }
        Ok(Some(claims))
    }
}

/// The user a verified token names.
pub fn user_of_claims(claims: &Claims) -> UserInfo {
    let namespace = &claims.kubernetes.namespace;
    let mut extra = BTreeMap::new();
    if !claims.jti.is_empty() {
        extra.insert(
            "authentication.kubernetes.io/credential-id".to_owned(),
            vec![format!("JTI={}", claims.jti)],
        );
    }
    if let Some(pod) = &claims.kubernetes.pod {
        extra.insert(
            "authentication.kubernetes.io/pod-name".to_owned(),
            vec![pod.name.clone()],
        );
        extra.insert(
            "authentication.kubernetes.io/pod-uid".to_owned(),
            vec![pod.uid.clone()],
        );
    }
    UserInfo {
        name: claims.sub.clone(),
        uid: claims.kubernetes.serviceaccount.uid.clone(),
        groups: vec![
            SERVICE_ACCOUNTS_GROUP.to_owned(),
            format!("{SERVICE_ACCOUNTS_GROUP}:{namespace}"),
        ],
        extra,
    }
}

/// The uncompressed P-256 point of a SubjectPublicKeyInfo.
fn public_point(spki: &SubjectPublicKeyInfoDer<'_>) -> Result<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki.as_ref())
        .map_err(|e| Error::Key(e.to_string()))?;
    let point = info.subject_public_key.data.to_vec();
    if point.len() != 65 || point[0] != 4 {
        return Err(Error::Key(
            "not an uncompressed P-256 public key".to_owned(),
        ));
    }
    Ok(point)
}

#[async_trait::async_trait]
impl TokenAuthenticator for ServiceAccountTokens {
    async fn authenticate_token(&self, token: &str) -> AuthResult<Option<UserInfo>> {
        let Some(claims) = self.verify(token)? else {
            return Ok(None);
        };
        self.check_objects(&claims).await?;
        Ok(Some(user_of_claims(&claims)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::clock::FixedClock;
    use k8s_openapi::jiff::{SignedDuration, Timestamp};

    fn keys() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        (key.public_key_pem(), key.serialize_pem())
    }

    fn tokens(clock: Arc<FixedClock>) -> (ServiceAccountTokens, String) {
        let (public, private) = keys();
        (
            ServiceAccountTokens::new(DEFAULT_ISSUER, &public, Some(&private), clock).unwrap(),
            public,
        )
    }

    fn clock() -> Arc<FixedClock> {
        Arc::new(FixedClock::new(
            Timestamp::from_second(1_800_000_000).unwrap(),
        ))
    }

    #[test]
    fn issued_tokens_verify_as_the_service_account() {
        let (t, _) = tokens(clock());
        let token = t.issue("team", "builder", "uid-7", 3600).unwrap();
        let claims = t.verify(&token).unwrap().unwrap();
        let user = user_of_claims(&claims);
        assert_eq!(user.name, "system:serviceaccount:team:builder");
        assert_eq!(user.uid, "uid-7");
        assert_eq!(
            user.groups,
            ["system:serviceaccounts", "system:serviceaccounts:team"]
        );
        assert!(user.extra["authentication.kubernetes.io/credential-id"][0].starts_with("JTI="));
    }

    #[test]
    fn other_keys_expiry_and_tampering_are_rejected() {
        let clock = clock();
        let (t, _) = tokens(Arc::clone(&clock));
        let token = t.issue("team", "builder", "", 60).unwrap();

        // The same issuer, another key.
        let (other, _) = tokens(Arc::clone(&clock));
        assert!(matches!(other.verify(&token), Err(Error::Signature)));

        // Tampered claims.
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = "system:serviceaccount:kube-system:admin".into();
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        parts[1] = &forged;
        assert!(matches!(t.verify(&parts.join(".")), Err(Error::Signature)));

        clock.advance(SignedDuration::from_secs(61));
        assert!(matches!(t.verify(&token), Err(Error::Expired)));
    }

    #[test]
    fn foreign_tokens_are_not_ours() {
        let (t, public) = tokens(clock());
        assert!(t.verify("s3cret").unwrap().is_none());
        assert!(t.verify("a.b.c").unwrap().is_none());
        let elsewhere =
            ServiceAccountTokens::new("https://other.example", &public, None, clock()).unwrap();
        let token = t.issue("team", "builder", "", 60).unwrap();
        assert!(elsewhere.verify(&token).unwrap().is_none());
        assert!(matches!(
            elsewhere.issue("team", "builder", "", 60),
            Err(Error::Key(_))
        ));
    }
}
