//! List: selectors, paging with continue tokens, and the resourceVersion rules.

use kube_core::registry::ResourceInfo;
use kube_core::selector::field::FieldSelector;
use kube_core::selector::label::LabelSelector;
use kube_core::status::StatusError;
use kube_store::{ListRequest, Revision};
use serde_json::Value;

use super::token::ContinueToken;
use super::{Storage, decode, key, matches, store_error};

/// How a list's resourceVersion is read (metav1.ResourceVersionMatch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RvMatch {
    /// Any state at least as new as the resourceVersion.
    NotOlderThan,
    /// Exactly the state at the resourceVersion.
    Exact,
}

/// The options of a list (metav1.ListOptions).
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Only objects whose labels match.
    pub labels: LabelSelector,
    /// Only objects whose fields match (already converted for the resource).
    pub fields: FieldSelector,
    /// At most this many items per page.
    pub limit: Option<usize>,
    /// The continue token of the previous page.
    pub continue_token: Option<String>,
    /// The resourceVersion asked for; empty for the latest.
    pub resource_version: String,
    /// How `resource_version` is read.
    pub resource_version_match: Option<RvMatch>,
}

/// One page of a list: of decoded objects ([`Storage::list`]) or of [`ListItem`]s
/// ([`Storage::list_items`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ListResult<T = Value> {
    /// The matching objects, in key order, each with its resourceVersion.
    pub items: Vec<T>,
    /// The revision the list was read at.
    pub revision: Revision,
    /// The token of the next page, when more may follow.
    pub continue_token: Option<String>,
}

/// An object of a list as [`Storage::list_items`] returns it: as stored when nothing had to
/// look inside it, else decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum ListItem {
    /// The store entry (serve it with [`super::raw::write_served`], or decode it).
    Stored(kube_store::KeyValue),
    /// The decoded object, with its resourceVersion.
    Decoded(Value),
}

/// How many keys one store read fetches while filling a page with selectors.
const MIN_PAGE_READ: usize = 100;

impl Storage {
    /// Lists a collection: one namespace's objects, or all (empty `namespace`).
    pub async fn list(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        options: &ListOptions,
    ) -> Result<ListResult, StatusError> {
        self.list_selecting(info, namespace, options, |kv| {
            let obj = decode(info, kv)?;
            Ok(matches(info, &obj, &options.labels, &options.fields).then_some(obj))
        })
        .await
    }

    /// Lists as [`Storage::list`] does, but leaves the objects as stored when there are no
    /// selectors to look inside them with, so a caller can send them without decoding.
    pub async fn list_items(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        options: &ListOptions,
    ) -> Result<ListResult<ListItem>, StatusError> {
        let filtering = !options.labels.is_empty() || !options.fields.is_empty();
        self.list_selecting(info, namespace, options, |kv| {
            if !filtering {
                return Ok(Some(ListItem::Stored(kv.clone())));
            }
            let obj = decode(info, kv)?;
            Ok(matches(info, &obj, &options.labels, &options.fields)
                .then_some(ListItem::Decoded(obj)))
        })
        .await
    }

    /// The paging loop of a list: `select` decides, for each stored entry, whether and as what
    /// it is part of the result.
    async fn list_selecting<T>(
        &self,
        info: &ResourceInfo,
        namespace: &str,
        options: &ListOptions,
        mut select: impl FnMut(&kube_store::KeyValue) -> Result<Option<T>, StatusError>,
    ) -> Result<ListResult<T>, StatusError> {
        let prefix = key::collection_prefix(info, namespace);
        let (mut revision, mut start_after) = match options.continue_token.as_deref() {
            Some(token) if !token.is_empty() => {
                if !options.resource_version.is_empty() && options.resource_version != "0" {
                    return Err(StatusError::bad_request(
                        "specifying resource version is not allowed when using continue",
                    ));
                }
                let token = ContinueToken::decode(token)?;
                (Some(token.rv), Some(format!("{prefix}{}", token.start)))
            }
            _ => (self.read_revision(options)?, None),
        };
        let not_older_than = match (options.resource_version_match, options.limit) {
            (Some(RvMatch::NotOlderThan), _) | (None, None) => {
                parse_rv(&options.resource_version)?.filter(|rv| *rv > 0)
            }
            _ => None,
        };

        let limit = options.limit.filter(|l| *l > 0);
        let mut items = Vec::new();
        let mut more;
        loop {
            let mut request = ListRequest::prefix(prefix.clone());
            request.revision = revision;
            request.start_after = start_after.clone();
            if let Some(limit) = limit {
                let wanted = limit - items.len();
                let filtering = !options.labels.is_empty() || !options.fields.is_empty();
                request.limit = Some(if filtering {
                    wanted.max(MIN_PAGE_READ)
                } else {
                    wanted
                });
            }
            let page = self.source.list(request).await.map_err(|e| match e {
                kube_store::Error::Compacted { .. } if options.continue_token.is_some() => {
                    continue_expired()
                }
                kube_store::Error::Compacted { .. } => StatusError::resource_expired(
                    "The resourceVersion for the provided list is too old.",
                ),
                other => store_error(other, info, ""),
            })?;
            if let Some(min) = not_older_than
                && page.revision < min
            {
                return Err(StatusError::timeout(
                    &format!(
                        "Too large resource version: {min}, current: {}",
                        page.revision
                    ),
                    1,
                ));
            }
            revision = Some(page.revision);
            more = page.more;
            let mut last_key = None;
            for (i, kv) in page.items.iter().enumerate() {
                last_key = Some(kv.key.clone());
                if let Some(item) = select(kv)? {
                    items.push(item);
                    if limit.is_some_and(|l| items.len() >= l) {
                        more = more || i + 1 < page.items.len();
                        break;
                    }
                }
            }
            start_after = last_key.or(start_after);
            let full = limit.is_some_and(|l| items.len() >= l);
            if full || !more {
                break;
            }
        }
        let revision = revision.unwrap_or_default();
        let continue_token = match (&start_after, more) {
            (Some(last), true) => {
                let rel = last.strip_prefix(&prefix).unwrap_or(last);
                Some(ContinueToken::new(revision, rel).encode())
            }
            _ => None,
        };
        Ok(ListResult {
            items,
            revision,
            continue_token,
        })
    }

    /// The revision to read a first page at: `None` for the latest, or the exact one asked.
    fn read_revision(&self, options: &ListOptions) -> Result<Option<Revision>, StatusError> {
        if options.resource_version.is_empty() {
            if options.resource_version_match.is_some() {
                return Err(StatusError::bad_request(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            return Ok(None);
        }
        let rv = parse_rv(&options.resource_version)?;
        let exact = match options.resource_version_match {
            Some(RvMatch::Exact) => true,
            Some(RvMatch::NotOlderThan) => false,
            // Legacy: a resourceVersion other than "0" with a limit and no match reads
            // exactly; "0" means any version (client-go's first list of a reflector).
            None => options.limit.is_some_and(|l| l > 0) && !matches!(rv, Some(0) | None),
        };
        match rv {
            Some(0) | None => {
                if exact {
                    return Err(StatusError::bad_request(
                        "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"",
                    ));
                }
                Ok(None)
            }
            Some(rv) if exact => Ok(Some(rv)),
            Some(_) => Ok(None),
        }
    }
}

/// Parses a resourceVersion: `None` for empty. Fails with 400 for a non-number.
pub(crate) fn parse_rv(rv: &str) -> Result<Option<Revision>, StatusError> {
    if rv.is_empty() {
        return Ok(None);
    }
    rv.parse::<Revision>()
        .map(Some)
        .map_err(|_| StatusError::bad_request(format!("invalid resource version: {rv:?}")))
}

/// 410 for a continue token whose snapshot was compacted away, in upstream's words.
fn continue_expired() -> StatusError {
    StatusError::resource_expired(
        "The provided continue parameter is too old to display a consistent list result. You can \
         start a new list without the continue parameter, or use the continue token in this \
         response to retrieve the remainder of the results. Continuing with the provided token \
         results in an inconsistent list - objects that were created, modified, or deleted \
         between the time the first chunk was returned and now may show up in the list.",
    )
}
