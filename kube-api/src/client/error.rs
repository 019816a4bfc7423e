//! The client's errors: what the server said no to, and what went wrong on the way.

use kube_core::status::StatusError;

/// An error erased on purpose (a transport's own error type).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors of client calls.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a metav1.Status failure; ask it for the code and reason
    /// ([`StatusError::code`], [`StatusError::reason`]).
    #[error("{0}")]
    Api(#[source] StatusError),
    /// The request did not reach the server or the answer did not come back.
    #[error("the request failed on its way: {0}")]
    Transport(#[source] BoxError),
    /// The server's answer could not be decoded.
    #[error("decoding the server's answer failed: {context}")]
    Decode {
        /// What was being decoded.
        context: String,
        /// Why it failed.
        #[source]
        source: serde_json::Error,
    },
    /// The request could not be built (a bad name, path or parameter).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The client could not be built from its configuration (bad TLS material, a server name
    /// that is no DNS name or address).
    #[error("the client configuration is unusable: {0}")]
    Config(#[source] BoxError),
}

impl Error {
    /// The HTTP status code the server answered with, when it answered with a Status.
    pub fn code(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.code()),
            _ => None,
        }
    }

    /// The server's Status, when it answered with one.
    pub fn status(&self) -> Option<&StatusError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StatusError> for Error {
    fn from(e: StatusError) -> Self {
        Error::Api(e)
    }
}

/// The result type of client calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
