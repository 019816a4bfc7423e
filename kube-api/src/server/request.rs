//! What a request asks for, parsed from its method, path and query as upstream's RequestInfo.

use std::collections::BTreeMap;

use http::Method;
use kube_core::registry::Verb;

/// A parsed request: either a resource request (`/api/v1/...`, `/apis/G/V/...`) or a
/// non-resource one (`/healthz`, `/version`, discovery documents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The URL path as received.
    pub path: String,
    /// Whether the path names a resource (or collection) rather than a plain endpoint.
    pub is_resource_request: bool,
    /// The API verb; for non-resource requests, derived from the method as for resources.
    pub verb: Verb,
    /// `api` or `apis` for resource requests, empty otherwise.
    pub api_prefix: String,
    /// The API group; empty for the core group.
    pub group: String,
    /// The API version.
    pub version: String,
    /// The namespace; empty for cluster-scoped requests and lists across namespaces.
    pub namespace: String,
    /// The resource's plural name, e.g. `pods`.
    pub resource: String,
    /// The object's name; empty for collections.
    pub name: String,
    /// The subresource, e.g. `status`; empty for the main resource.
    pub subresource: String,
    /// The path segments from the resource on (`pods/web/status`).
    pub parts: Vec<String>,
}

/// The subresources that follow a namespace's own name (`/api/v1/namespaces/x/status`).
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

impl RequestInfo {
    /// Parses a request. `query` is the decoded query string (only `watch` matters here).
    /// Returns `None` for a method no verb maps to (such as OPTIONS or TRACE).
    pub fn parse(method: &Method, path: &str, query: &BTreeMap<String, String>) -> Option<Self> {
        let mut verb = match *method {
            Method::GET | Method::HEAD => Verb::Get,
            Method::POST => Verb::Create,
            Method::PUT => Verb::Update,
            Method::PATCH => Verb::Patch,
            Method::DELETE => Verb::Delete,
            _ => return None,
        };
        let mut info = RequestInfo {
            path: path.to_owned(),
            is_resource_request: false,
            verb,
            api_prefix: String::new(),
            group: String::new(),
            version: String::new(),
            namespace: String::new(),
            resource: String::new(),
            name: String::new(),
            subresource: String::new(),
            parts: Vec::new(),
        };
        let segments: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        if segments.len() < 3 {
            return Some(info);
        }
        let (prefix, mut rest) = (segments[0], &segments[1..]);
        match prefix {
            "api" => {}
            "apis" => {
                if rest.len() < 3 {
                    return Some(info);
                }
                info.group = rest[0].to_owned();
                rest = &rest[1..];
            }
            _ => return Some(info),
        }
        info.api_prefix = prefix.to_owned();
        info.is_resource_request = true;
        info.version = rest[0].to_owned();
        rest = &rest[1..];

        // The deprecated `/watch/` form.
        if rest.first() == Some(&"watch") && rest.len() >= 2 {
            verb = Verb::Watch;
            rest = &rest[1..];
        }
        if rest.first() == Some(&"namespaces")
            && let Some(ns) = rest.get(1)
        {
            info.namespace = (*ns).to_owned();
            if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
                rest = &rest[2..];
            }
        }
        info.parts = rest.iter().map(|s| (*s).to_owned()).collect();
        if let Some(resource) = rest.first() {
            info.resource = (*resource).to_owned();
        }
        if let Some(name) = rest.get(1) {
            info.name = (*name).to_owned();
        }
        if let Some(sub) = rest.get(2) {
            info.subresource = (*sub).to_owned();
        }
        let watch_param = query.get("watch").is_some_and(|w| w == "true" || w == "1");
        if verb == Verb::Get && (info.name.is_empty() || watch_param) {
            verb = if watch_param { Verb::Watch } else { Verb::List };
        }
        if verb == Verb::Delete && info.name.is_empty() {
            verb = Verb::DeleteCollection;
        }
        info.verb = verb;
        Some(info)
    }
}

/// Decodes a query string into its parameters (the last of repeated ones wins).
pub fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    for pair in query.unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(percent_decode(k), percent_decode(v));
    }
    params
}

/// Decodes `%XX` escapes and `+` (a space in form encoding); malformed escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(method: Method, path: &str) -> RequestInfo {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        RequestInfo::parse(&method, path, &parse_query(Some(query))).unwrap()
    }

    #[test]
    fn namespaced_forms() {
        let r = parse(Method::GET, "/api/v1/namespaces/default/pods/web/status");
        assert!(r.is_resource_request);
        assert_eq!(
            (r.verb, r.group.as_str(), r.version.as_str()),
            (Verb::Get, "", "v1")
        );
        assert_eq!(
            (r.namespace.as_str(), r.resource.as_str(), r.name.as_str()),
            ("default", "pods", "web")
        );
        assert_eq!(r.subresource, "status");

        let r = parse(Method::GET, "/apis/apps/v1/namespaces/ns/deployments");
        assert_eq!((r.verb, r.group.as_str()), (Verb::List, "apps"));
        assert_eq!(r.resource, "deployments");

        let r = parse(Method::GET, "/apis/apps/v1/deployments?watch=true");
        assert_eq!((r.verb, r.namespace.as_str()), (Verb::Watch, ""));

        let r = parse(Method::DELETE, "/api/v1/namespaces/ns/configmaps");
        assert_eq!(r.verb, Verb::DeleteCollection);
        let r = parse(Method::POST, "/api/v1/namespaces/ns/configmaps");
        assert_eq!(r.verb, Verb::Create);
    }

    #[test]
    fn namespaces_themselves() {
        let r = parse(Method::GET, "/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.resource.as_str(), r.name.as_str(), r.namespace.as_str()),
            ("namespaces", "kube-system", "kube-system")
        );
        let r = parse(Method::PUT, "/api/v1/namespaces/x/finalize");
        assert_eq!((r.name.as_str(), r.subresource.as_str()), ("x", "finalize"));
        let r = parse(Method::GET, "/api/v1/namespaces");
        assert_eq!((r.verb, r.resource.as_str()), (Verb::List, "namespaces"));
    }

    #[test]
    fn non_resource_paths() {
        for path in [
            "/healthz",
            "/api",
            "/api/v1",
            "/apis/apps",
            "/version",
            "/apis",
        ] {
            assert!(!parse(Method::GET, path).is_resource_request, "{path}");
        }
        assert!(RequestInfo::parse(&Method::OPTIONS, "/api", &BTreeMap::new()).is_none());
    }

    #[test]
    fn query_decoding() {
        let q = parse_query(Some("labelSelector=app%3Dweb%2Ctier+in+(a)&limit=5&x"));
        assert_eq!(q["labelSelector"], "app=web,tier in (a)");
        assert_eq!(q["limit"], "5");
        assert_eq!(q["x"], "");
        assert_eq!(parse_query(Some("a=%zz%"))["a"], "%zz%");
    }
}
