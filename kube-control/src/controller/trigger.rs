//! What puts keys on a controller's queue: its own objects, the children it owns (through
//! their controller owner reference), and anything else it watches (through a mapper).
//!
//! Each trigger is an event handler on a shared informer; it is registered when the controller
//! runs and removed when it stops, so other consumers of the informer are not disturbed.

use std::any::TypeId;
use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube_api::client::api::{Api, ApiObject};
use kube_api::client::runtime::{
    HandlerFuncs, Informer, ListerWatcher, Object, Scope, SharedInformerFactory,
};
use kube_api::client::workqueue::RateLimitingQueue;

use super::ObjectRef;
use crate::owner;

/// The queue of a controller of `K`.
pub(crate) type KeyQueue<K> = RateLimitingQueue<ObjectRef<K>>;

/// A registered trigger: waits for its informer's first list, and unregisters.
pub(crate) struct Registered {
    pub(crate) synced: BoxFuture<'static, ()>,
    pub(crate) remove: Box<dyn FnOnce() + Send>,
}

/// Registers a trigger on the factory, feeding the queue.
pub(crate) type Trigger<K> =
    Box<dyn FnOnce(&SharedInformerFactory, &KeyQueue<K>) -> Registered + Send>;

/// The scope of `api`: its namespace, with the selectors of `scope`.
pub(crate) fn scope_of<T>(api: &Api<T>, scope: Scope) -> Scope {
    Scope {
        namespace: api.namespace().map(str::to_owned),
        ..scope
    }
}

/// The shared informer of `api`'s collection in `scope`.
pub(crate) fn informer_for<T: Object + ApiObject>(
    factory: &SharedInformerFactory,
    api: Api<T>,
    scope: Scope,
) -> Informer<T> {
    let scope = scope_of(&api, scope);
    factory.informer(scope, move || Arc::new(api) as Arc<dyn ListerWatcher<T>>)
}

/// Registers `map` on the informer of `api`: every add, update (old and new state) and delete
/// of a `T` enqueues the keys it maps to.
pub(crate) fn mapped<K, T>(
    api: Api<T>,
    scope: Scope,
    map: impl Fn(&T) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
) -> Trigger<K>
where
    K: Object,
    T: Object + ApiObject,
{
    Box::new(move |factory, queue| {
        let informer = informer_for(factory, api, scope);
        let map = Arc::new(map);
        let (on_add, on_update, on_delete) = (map.clone(), map.clone(), map);
        let (q1, q2, q3) = (queue.clone(), queue.clone(), queue.clone());
        let registration = informer.add_event_handler(
            HandlerFuncs::new()
                .on_add(move |o: &Arc<T>, _| on_add(o).into_iter().for_each(|k| q1.add(k)))
                .on_update(move |old: &Arc<T>, new: &Arc<T>| {
                    let mut keys = on_update(old);
                    keys.extend(on_update(new));
                    keys.sort();
                    keys.dedup();
                    keys.into_iter().for_each(|k| q2.add(k));
                })
                .on_delete(move |d| on_delete(d.object()).into_iter().for_each(|k| q3.add(k))),
        );
        let wait = informer.clone();
        Registered {
            synced: Box::pin(async move { wait.wait_for_sync().await }),
            remove: Box::new(move || registration.remove()),
        }
    })
}

/// The key of the `K` that controls `child`, if its controller reference points at a `K`.
pub(crate) fn controller_key<K: Object>(child: &ObjectMeta) -> Option<ObjectRef<K>> {
    let r = owner::controller_of(child)?;
    if !owner::refers_to::<K>(r) {
        return None;
    }
    let key = ObjectRef::new(r.name.clone());
    let namespaced = TypeId::of::<K::Scope>() == TypeId::of::<NamespaceResourceScope>();
    Some(match (&child.namespace, namespaced) {
        (Some(ns), true) => key.within(ns.clone()),
        _ => key,
    })
}
