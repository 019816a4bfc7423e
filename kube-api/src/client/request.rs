//! Building API requests: a resource's URL path, plus verb, query and body
//! (client-go's `rest.Request`).
//!
//! [`Request`] knows one collection's path (`/apis/apps/v1/namespaces/team/deployments`) and
//! builds each call against it; [`Client`](super::Client) sends what it builds.

use bytes::Bytes;
use http::{Method, header};

use super::params::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Query, WatchParams};
use super::{Error, Result};

/// The body of requests the client sends.
pub type Body = http_body_util::Full<Bytes>;

const JSON: &str = "application/json";

/// The requests of one resource collection. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    path: String,
}

impl Request {
    /// Requests under `path`, a collection path such as `/api/v1/namespaces/default/pods`.
    pub fn new(path: impl Into<String>) -> Self {
        Self { path: path.into() }
    }

    /// Requests of `resource` (the plural) in `group`/`version`, in `namespace` or across the
    /// cluster (`None`; also every namespace for namespaced resources).
    pub fn for_resource(
        group: &str,
        version: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Self {
        let mut path = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        if let Some(ns) = namespace {
            path.push_str("/namespaces/");
            path.push_str(ns);
        }
        path.push('/');
        path.push_str(resource);
        Self { path }
    }

    /// The collection path.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn url(&self, name: Option<&str>, subresource: Option<&str>, query: &Query) -> Result<String> {
        let mut url = self.path.clone();
        if let Some(name) = name {
            check_segment("name", name)?;
            url.push('/');
            url.push_str(name);
        }
        if let Some(sub) = subresource {
            check_segment("subresource", sub)?;
            url.push('/');
            url.push_str(sub);
        }
        url.push_str(&query.encode());
        Ok(url)
    }

    fn build(
        method: Method,
        url: String,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<http::Request<Body>> {
        let mut b = http::Request::builder().method(method).uri(url);
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(Body::from(body))
            .map_err(|e| Error::InvalidRequest(e.to_string()))
    }

    /// GET one object.
    pub fn get(&self, name: &str) -> Result<http::Request<Body>> {
        Self::build(
            Method::GET,
            self.url(Some(name), None, &Query::default())?,
            None,
            vec![],
        )
    }

    /// GET a subresource of one object (`status`, `scale`, ...).
    pub fn get_subresource(&self, subresource: &str, name: &str) -> Result<http::Request<Body>> {
        let url = self.url(Some(name), Some(subresource), &Query::default())?;
        Self::build(Method::GET, url, None, vec![])
    }

    /// GET the collection (a list).
    pub fn list(&self, params: &ListParams) -> Result<http::Request<Body>> {
        let mut q = Query::default();
        params.query(&mut q);
        Self::build(Method::GET, self.url(None, None, &q)?, None, vec![])
    }

    /// GET the collection with `watch=true`.
    pub fn watch(&self, params: &WatchParams) -> Result<http::Request<Body>> {
        let mut q = Query::default();
        params.query(&mut q);
        Self::build(Method::GET, self.url(None, None, &q)?, None, vec![])
    }

    /// POST a new object (`body` is its JSON).
    pub fn create(&self, params: &PostParams, body: Vec<u8>) -> Result<http::Request<Body>> {
        let mut q = Query::default();
        params.query(&mut q);
        Self::build(Method::POST, self.url(None, None, &q)?, Some(JSON), body)
    }

    /// PUT an object (or, with `subresource`, one of its subresources).
    pub fn replace(
        &self,
        name: &str,
        subresource: Option<&str>,
        params: &PostParams,
        body: Vec<u8>,
    ) -> Result<http::Request<Body>> {
        let mut q = Query::default();
        params.query(&mut q);
        Self::build(
            Method::PUT,
            self.url(Some(name), subresource, &q)?,
            Some(JSON),
            body,
        )
    }

    /// PATCH an object (or one of its subresources).
    pub fn patch<P: serde::Serialize>(
        &self,
        name: &str,
        subresource: Option<&str>,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<http::Request<Body>> {
        if matches!(patch, Patch::Apply(_)) && params.field_manager.is_none() {
            return Err(Error::InvalidRequest(
                "server-side apply needs a field manager (PatchParams::apply)".into(),
            ));
        }
        if params.force && !matches!(patch, Patch::Apply(_)) {
            return Err(Error::InvalidRequest(
                "force is only valid with server-side apply".into(),
            ));
        }
        let mut q = Query::default();
        params.query(&mut q);
        let body = patch
            .to_body()
            .map_err(|e| Error::InvalidRequest(format!("patch body: {e}")))?;
        let url = self.url(Some(name), subresource, &q)?;
        Self::build(
            Method::PATCH,
            url,
            Some(patch.patch_type().content_type()),
            body,
        )
    }

    /// DELETE one object.
    pub fn delete(&self, name: &str, params: &DeleteParams) -> Result<http::Request<Body>> {
        let body = params
            .to_body()
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let url = self.url(Some(name), None, &Query::default())?;
        Self::build(Method::DELETE, url, Some(JSON), body)
    }

    /// DELETE the objects of the collection that `list` selects.
    pub fn delete_collection(
        &self,
        params: &DeleteParams,
        list: &ListParams,
    ) -> Result<http::Request<Body>> {
        let mut q = Query::default();
        list.query(&mut q);
        let body = params
            .to_body()
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        Self::build(Method::DELETE, self.url(None, None, &q)?, Some(JSON), body)
    }
}

/// A name or subresource must be one non-empty path segment.
fn check_segment(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::InvalidRequest(format!("{what} must not be empty")));
    }
    if value == "." || value == ".." || value.contains(['/', '%', '?', '#']) {
        return Err(Error::InvalidRequest(format!(
            "{what} {value:?} may not be '.', '..' or contain '/', '%', '?' or '#'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_core_and_grouped_resources() {
        let pods = Request::for_resource("", "v1", "pods", Some("team"));
        assert_eq!(
            pods.get("web").unwrap().uri(),
            "/api/v1/namespaces/team/pods/web"
        );
        let deploy = Request::for_resource("apps", "v1", "deployments", None);
        assert_eq!(
            deploy.get_subresource("scale", "web").unwrap().uri(),
            "/apis/apps/v1/deployments/web/scale"
        );
        let r = deploy.watch(&WatchParams::default().after("5")).unwrap();
        assert_eq!(
            r.uri(),
            "/apis/apps/v1/deployments?watch=true&resourceVersion=5"
        );
    }

    #[test]
    fn bad_names_are_refused_before_sending() {
        let pods = Request::for_resource("", "v1", "pods", Some("team"));
        for name in ["", "a/b", "..", "x?y"] {
            assert!(
                matches!(pods.get(name), Err(Error::InvalidRequest(_))),
                "{name}"
            );
        }
        let apply = Patch::Apply(serde_json::json!({}));
        assert!(
            pods.patch("web", None, &PatchParams::default(), &apply)
                .is_err()
        );
        let r = pods
            .patch("web", None, &PatchParams::apply("me").force(), &apply)
            .unwrap();
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/apply-patch+yaml"
        );
        assert_eq!(
            r.uri(),
            "/api/v1/namespaces/team/pods/web?fieldManager=me&force=true"
        );
    }
}
