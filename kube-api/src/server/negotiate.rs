//! Content negotiation: which response media type the `Accept` header allows, and whether a
//! request body's `Content-Type` is one the server reads.

use kube_core::patch::PatchType;
use kube_core::status::StatusError;

/// The media types the server answers with.
pub const SERVED: [&str; 1] = ["application/json"];

/// One entry of an `Accept` header: `type/subtype;param=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRange {
    /// `type/subtype`, lower-cased.
    pub essence: String,
    /// Parameters, keys lower-cased, in order.
    pub params: Vec<(String, String)>,
}

impl MediaRange {
    /// The value of parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn is_json_like(&self) -> bool {
        matches!(
            self.essence.as_str(),
            "application/json" | "application/*" | "*/*"
        )
    }
}

/// Splits an `Accept` header into its media ranges, in the order given.
pub fn parse_accept(accept: &str) -> Vec<MediaRange> {
    accept
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.split(';');
            let essence = parts.next()?.trim().to_ascii_lowercase();
            if essence.is_empty() {
                return None;
            }
            let params = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((
                        k.trim().to_ascii_lowercase(),
                        v.trim().trim_matches('"').to_owned(),
                    ))
                })
                .collect();
            Some(MediaRange { essence, params })
        })
        .collect()
}

/// Checks that the `Accept` header allows plain JSON (the object itself, not a conversion such
/// as `as=Table`); no header allows anything. Fails with 406 NotAcceptable.
pub fn accept_json(accept: Option<&str>) -> Result<(), StatusError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(());
    };
    let ok = parse_accept(accept)
        .iter()
        .any(|range| range.is_json_like() && range.param("as").is_none());
    if ok {
        Ok(())
    } else {
        Err(StatusError::not_acceptable(&SERVED))
    }
}

/// What a read (get, list, watch) answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAs {
    /// The object, or the `<Kind>List`, as JSON.
    Object,
    /// A meta.k8s.io/v1 `Table` (`application/json;as=Table;v=v1;g=meta.k8s.io`).
    Table,
}

/// Picks the representation of a read from the `Accept` header: the first media range the
/// server serves wins, so kubectl's `as=Table` with a plain JSON fallback gets a Table. No
/// header means the object. Fails with 406 NotAcceptable when nothing is served.
pub fn read_as(accept: Option<&str>) -> Result<ReadAs, StatusError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(ReadAs::Object);
    };
    for range in parse_accept(accept) {
        if !range.is_json_like() {
            continue;
        }
        match range.param("as") {
            None => return Ok(ReadAs::Object),
            Some("Table")
                if range.param("g") == Some("meta.k8s.io")
                    && matches!(range.param("v"), Some("v1" | "v1beta1")) =>
            {
                return Ok(ReadAs::Table);
            }
            Some(_) => {}
        }
    }
    Err(StatusError::not_acceptable(&[
        "application/json",
        "application/json;as=Table;v=v1;g=meta.k8s.io",
    ]))
}

/// Whether the `Accept` header of `/openapi/v2` allows the JSON document (none given does);
/// a client asking only for protobuf gets 406 and falls back to JSON.
pub fn openapi_v2_acceptable(accept: Option<&str>) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    parse_accept(accept)
        .iter()
        .any(|range| range.is_json_like() && range.param("as").is_none())
}

/// True when the `Accept` header asks for the aggregated discovery document
/// (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`) before any plain
/// type.
pub fn wants_aggregated_discovery(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    for range in parse_accept(accept) {
        if range.param("as") == Some("APIGroupDiscoveryList")
            && range.param("g") == Some("apidiscovery.k8s.io")
            && range.param("v") == Some("v2")
        {
            return true;
        }
        if range.is_json_like() && range.param("as").is_none() {
            return false;
        }
    }
    false
}

/// Checks the `Content-Type` of a create or update body: JSON (or none given). Fails with 415.
pub fn body_is_json(content_type: Option<&str>) -> Result<(), StatusError> {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if essence.is_empty() || essence == "application/json" {
        Ok(())
    } else {
        Err(StatusError::unsupported_media_type(&SERVED))
    }
}

/// The patch type of a PATCH body. Fails with 415 for anything but the four patch types.
pub fn patch_type(content_type: Option<&str>) -> Result<PatchType, StatusError> {
    PatchType::from_content_type(content_type.unwrap_or_default()).map_err(|_| {
        let accepted: Vec<&str> = PatchType::ALL.iter().map(|t| t.content_type()).collect();
        StatusError::unsupported_media_type(&accepted)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_rules() {
        assert!(accept_json(None).is_ok());
        assert!(accept_json(Some("application/json")).is_ok());
        assert!(accept_json(Some("*/*")).is_ok());
        assert!(
            accept_json(Some(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
            ))
            .is_ok()
        );
        let err = accept_json(Some("application/vnd.kubernetes.protobuf")).unwrap_err();
        assert_eq!(err.code(), 406);
        assert_eq!(
            accept_json(Some("application/json;as=Table;v=v1;g=meta.k8s.io"))
                .unwrap_err()
                .code(),
            406
        );
    }

    #[test]
    fn read_representation() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,\
                       application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(read_as(Some(kubectl)).unwrap(), ReadAs::Table);
        assert_eq!(read_as(None).unwrap(), ReadAs::Object);
        assert_eq!(read_as(Some("application/json")).unwrap(), ReadAs::Object);
        assert_eq!(
            read_as(Some(
                "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json"
            ))
            .unwrap(),
            ReadAs::Object
        );
        assert_eq!(
            read_as(Some("application/json;as=Table;v=v2;g=meta.k8s.io"))
                .unwrap_err()
                .code(),
            406
        );
        assert_eq!(read_as(Some("application/yaml")).unwrap_err().code(), 406);
        assert!(openapi_v2_acceptable(None));
        assert!(openapi_v2_acceptable(Some("application/json")));
        assert!(!openapi_v2_acceptable(Some(
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
        )));
    }

    #[test]
    fn aggregated_discovery() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
                       application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,\
                       application/json";
        assert!(wants_aggregated_discovery(Some(kubectl)));
        assert!(!wants_aggregated_discovery(Some("application/json")));
        assert!(!wants_aggregated_discovery(None));
    }

    #[test]
    fn content_types() {
        assert!(body_is_json(Some("application/json; charset=utf-8")).is_ok());
        assert!(body_is_json(None).is_ok());
        assert_eq!(
            body_is_json(Some("application/yaml")).unwrap_err().code(),
            415
        );
        assert_eq!(
            patch_type(Some("application/merge-patch+json")).unwrap(),
            PatchType::Merge
        );
        assert_eq!(patch_type(Some("text/plain")).unwrap_err().code(), 415);
    }
}
