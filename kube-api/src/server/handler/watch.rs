//! Watch: a chunked stream of newline-delimited JSON watch events.

use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};
use std::sync::Arc;

use kube_core::registry::ResourceInfo;
use kube_core::selector::field::{FieldSelector, Operator, Term};
use kube_core::status::StatusError;
use tokio::sync::mpsc;

use super::get::TablePrinter;
use super::{Ctx, HandlerResult};
use crate::server::metrics::RequestLabels;
use crate::server::negotiate::{ReadAs, read_as};
use crate::server::response::{APPLICATION_JSON, ResponseBody};
use crate::server::storage::watch::{ApiEvent, EventObject, EventType, WatchOptions};

/// Replaces an added, modified or deleted event's object with its one-row Table; only the
/// first Table carries the column definitions (upstream's watch does the same).
fn as_table(printer: &TablePrinter, info: &ResourceInfo, event: &mut ApiEvent, headers: &mut bool) {
    if !matches!(
        event.event_type,
        EventType::Added | EventType::Modified | EventType::Deleted
    ) {
        return;
    }
    let object = match event.decoded(info) {
        Ok(object) => object,
        Err(e) => {
            *event = ApiEvent::error(&e);
            return;
        }
    };
    let table = printer.table(std::slice::from_ref(&object), *headers);
    *headers = false;
    if let Ok(table) = serde_json::to_value(&table) {
        event.object = EventObject::Decoded(table);
    }
}

/// How many events may wait unsent before the watch stops reading from the store.
const WATCH_BUFFER: usize = 64;

/// Opens the watch and streams its events until the timeout, the client leaving, the watch
/// ending, or the server shutting down.
pub async fn watch(ctx: &Ctx) -> HandlerResult {
    let read = read_as(ctx.header(header::ACCEPT))?;
    let printer = (read == ReadAs::Table)
        .then(|| TablePrinter::new(ctx))
        .transpose()?;
    let (labels, mut fields) = ctx.selectors()?;
    if !ctx.request.name.is_empty() {
        let mut terms = fields.terms().to_vec();
        terms.push(Term {
            field: "metadata.name".to_owned(),
            operator: Operator::Equals,
            value: ctx.request.name.clone(),
        });
        fields = FieldSelector::from_terms(terms);
    }
    let flag = |name: &str| ctx.param(name).is_some_and(|v| v == "true" || v == "1");
    let send_initial_events = flag("sendInitialEvents");
    let allow_bookmarks = flag("allowWatchBookmarks");
    if send_initial_events {
        if ctx.param("resourceVersionMatch") != Some("NotOlderThan") {
            return Err(StatusError::bad_request(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !allow_bookmarks {
            return Err(StatusError::bad_request(
                "sendInitialEvents requires allowWatchBookmarks to be set",
            ));
        }
    }
    let timeout = match ctx.param("timeoutSeconds") {
        Some(t) => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| StatusError::bad_request(format!("invalid timeoutSeconds: {t:?}")))?,
        ),
        None => ctx.state.config.watch_timeout,
    };
    let options = WatchOptions {
        labels,
        fields,
        resource_version: ctx.param("resourceVersion").unwrap_or_default().to_owned(),
        send_initial_events,
        allow_bookmarks,
        bookmark_interval: ctx.state.config.bookmark_interval,
    };
    let admitted = ctx
        .state
        .flow
        .admit(crate::server::flowcontrol::RequestKind::LongRunning)?;
    let mut events = ctx
        .storage()
        .watch(ctx.resource.clone(), &ctx.request.namespace, options)
        .await?;

    let (tx, rx) = mpsc::channel(WATCH_BUFFER);
    let mut shutdown = ctx.state.shutdown.subscribe();
    let open = ctx.state.metrics.long_running(RequestLabels::of(
        &ctx.request,
        &http::Method::GET,
        &ctx.headers,
        &ctx.query,
    ));
    let info = Arc::clone(&ctx.resource);
    tokio::spawn(async move {
        // Counted as open, and under the watch cap, until this task ends (client gone,
        // timeout, shutdown).
        let _open = open;
        let _admitted = admitted;
        let mut headers = true;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                event = events.next() => {
                    let Some(mut event) = event else { break };
                    if let Some(printer) = &printer {
                        as_table(printer, &info, &mut event, &mut headers);
                    }
                    if tx.send(event.to_line(&info)).await.is_err() {
                        break;
                    }
                }
                () = &mut deadline => break,
                () = tx.closed() => break,
                () = async { let _ = shutdown.wait_for(|stop| *stop).await; } => break,
            }
        }
    });
    let mut response = Response::new(ResponseBody::Stream(rx));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(APPLICATION_JSON),
    );
    Ok(response)
}
