//! GET of a collection.

use http::{StatusCode, header};
use kube_core::status::StatusError;
use serde_json::{Value, json};

use super::get::TablePrinter;
use super::{Ctx, HandlerResult};
use crate::server::negotiate::{ReadAs, read_as};
use kube_core::registry::ResourceInfo;

use crate::server::response::{APPLICATION_JSON, json, with_type};
use crate::server::storage::{ListItem, ListOptions, ListResult, RvMatch, decode, raw};

/// Parses the list options of the query.
pub fn list_options(ctx: &Ctx) -> Result<ListOptions, StatusError> {
    let (labels, fields) = ctx.selectors()?;
    let limit = match ctx.param("limit") {
        Some(l) => Some(
            l.parse::<i64>()
                .map_err(|_| StatusError::bad_request(format!("invalid limit: {l:?}")))?,
        )
        .filter(|l| *l > 0)
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        None => None,
    };
    let resource_version_match = match ctx.param("resourceVersionMatch") {
        None => None,
        Some("NotOlderThan") => Some(RvMatch::NotOlderThan),
        Some("Exact") => Some(RvMatch::Exact),
        Some(other) => {
            return Err(StatusError::bad_request(format!(
                "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
            )));
        }
    };
    Ok(ListOptions {
        labels,
        fields,
        limit,
        continue_token: ctx.param("continue").map(str::to_owned),
        resource_version: ctx.param("resourceVersion").unwrap_or_default().to_owned(),
        resource_version_match,
    })
}

/// Answers a page of the collection as a `<Kind>List`, or as a Table when the `Accept`
/// header asks for one.
pub async fn list(ctx: &Ctx) -> HandlerResult {
    let read = read_as(ctx.header(header::ACCEPT))?;
    let printer = (read == ReadAs::Table)
        .then(|| TablePrinter::new(ctx))
        .transpose()?;
    let options = list_options(ctx)?;
    if let Some(printer) = printer {
        let result = ctx
            .storage()
            .list(&ctx.resource, &ctx.request.namespace, &options)
            .await?;
        let mut table = printer.table(&result.items, true);
        table.metadata.resource_version = Some(result.revision.to_string());
        table.metadata.continue_ = result.continue_token;
        return Ok(json(StatusCode::OK, &table));
    }
    let result = ctx
        .storage()
        .list_items(&ctx.resource, &ctx.request.namespace, &options)
        .await?;
    let body = list_body(&ctx.resource, result)?;
    Ok(with_type(StatusCode::OK, APPLICATION_JSON, body))
}

/// A `<Kind>List` document: objects the list left as stored are copied with their
/// resourceVersion spliced in, the others encoded.
fn list_body(info: &ResourceInfo, result: ListResult<ListItem>) -> Result<Vec<u8>, StatusError> {
    let mut metadata = json!({"resourceVersion": result.revision.to_string()});
    if let Some(token) = result.continue_token {
        metadata["continue"] = Value::String(token);
    }
    let head = json!({
        "kind": info.list_kind,
        "apiVersion": info.api_version(),
        "metadata": metadata,
    });
    let mut out = serde_json::to_vec(&head).map_err(StatusError::internal)?;
    // Reopen the head object and append the items member.
    out.pop();
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in result.items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match item {
            ListItem::Stored(kv) if raw::write_served(info, &kv, &mut out) => {}
            ListItem::Stored(kv) => serde_json::to_writer(&mut out, &decode(info, &kv)?)
                .map_err(StatusError::internal)?,
            ListItem::Decoded(obj) => {
                serde_json::to_writer(&mut out, &obj).map_err(StatusError::internal)?
            }
        }
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}
