//! GET of one object, as JSON or as a server-side printed Table.

use std::sync::Arc;

use http::{StatusCode, header};
use kube_core::printers::{IncludeObject, Table};
use kube_core::status::StatusError;
use serde_json::Value;

use super::{Ctx, HandlerResult};
use crate::server::clock::Clock;
use crate::server::negotiate::{ReadAs, read_as};
use crate::server::response::json;
use crate::server::storage::meta::meta_str;

/// Answers the stored object, or its Table when the `Accept` header asks for one.
pub async fn get(ctx: &Ctx) -> HandlerResult {
    let read = read_as(ctx.header(header::ACCEPT))?;
    let printer = (read == ReadAs::Table)
        .then(|| TablePrinter::new(ctx))
        .transpose()?;
    let r = &ctx.request;
    let obj = ctx
        .storage()
        .get(&ctx.resource, &r.namespace, &r.name)
        .await?;
    match printer {
        None => Ok(json(StatusCode::OK, &obj)),
        Some(printer) => {
            let mut table = printer.table(std::slice::from_ref(&obj), true);
            table.metadata.resource_version = Some(meta_str(&obj, "resourceVersion").to_owned());
            Ok(json(StatusCode::OK, &table))
        }
    }
}

/// Prints objects of one resource as meta.k8s.io/v1 Tables: the built-in printer of the
/// resource (the default NAME / CREATED AT table for other kinds), each row's `object` as the
/// request's `includeObject` asks, ages measured from the server's clock.
#[derive(Clone)]
pub struct TablePrinter {
    group: String,
    resource: String,
    include: IncludeObject,
    clock: Arc<dyn Clock>,
    /// A custom resource's columns (its CRD's additionalPrinterColumns).
    custom: Option<kube_core::printers::CustomColumns>,
}

impl std::fmt::Debug for TablePrinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TablePrinter")
            .field("group", &self.group)
            .field("resource", &self.resource)
            .field("include", &self.include)
            .finish_non_exhaustive()
    }
}

impl TablePrinter {
    /// The printer of the request's resource; 400 for an unknown `includeObject`.
    pub fn new(ctx: &Ctx) -> Result<Self, StatusError> {
        let include = match ctx.param("includeObject") {
            None => IncludeObject::default(),
            Some(value) => IncludeObject::parse(value).ok_or_else(|| {
                StatusError::bad_request(format!(
                    "includeObject: Unsupported value: {value:?}: supported values: \"None\", \"Metadata\", \"Object\""
                ))
            })?,
        };
        Ok(Self {
            group: ctx.resource.group.clone(),
            resource: ctx.resource.plural.clone(),
            include,
            clock: Arc::clone(&ctx.state.config.clock),
            custom: ctx
                .state
                .custom
                .version_of(&ctx.resource)
                .map(|v| v.columns.clone()),
        })
    }

    /// The Table of `objects`; without `headers` the column definitions are left out (watch
    /// events after the first, as upstream).
    pub fn table(&self, objects: &[Value], headers: bool) -> Table {
        let mut table = match &self.custom {
            Some(columns) => columns.table(objects, self.clock.now(), self.include),
            None => Table::for_objects(
                &self.group,
                &self.resource,
                objects,
                self.clock.now(),
                self.include,
            ),
        };
        if !headers {
            table.column_definitions.clear();
        }
        table
    }
}
