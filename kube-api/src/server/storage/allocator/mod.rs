//! Service cluster IP and node port allocation, kept in the store itself.
//!
//! Every allocated IP or port is one key, `/registry/ranges/serviceips/<ip>` or
//! `/registry/ranges/servicenodeports/<port>`, whose value names the owning service. A key is
//! taken with the store's create-if-absent, so concurrent creates (in one server or in many
//! over one etcd) never get the same one, and a restarted server sees what was taken before.
//! This is upstream's newer per-IP model (one IPAddress object per allocated IP) rather than
//! the RangeAllocation bitmap: no single hot object that every create rewrites and retries on.
//! Releasing deletes the key.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use kube_core::status::StatusError;
use kube_core::validation::{ErrorList, FieldError, Path};
use kube_store::{ListRequest, Store};
use serde_json::{Value, json};

pub mod repair;

pub use repair::{Repair, RepairReport};

/// The key prefix of allocated cluster IPs.
pub const IP_PREFIX: &str = "/registry/ranges/serviceips/";

/// The key prefix of allocated node ports.
pub const NODE_PORT_PREFIX: &str = "/registry/ranges/servicenodeports/";

/// How many random picks a dynamic allocation tries before scanning the range in order.
const RANDOM_ATTEMPTS: usize = 32;

/// Errors of parsing a CIDR.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not `a.b.c.d/len` with an IPv4 address and a length of at most 30.
    #[error("invalid IPv4 CIDR {0:?}")]
    InvalidCidr(String),
}

/// An IPv4 CIDR, such as the service range 10.96.0.0/12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// The CIDR of `addr/prefix_len` (host bits cleared); `None` for a length above 30, which
    /// leaves no usable address.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Option<Self> {
        if prefix_len > 30 {
            return None;
        }
        let mask = u32::MAX
            .checked_shl(32 - u32::from(prefix_len))
            .unwrap_or(0);
        Some(Self {
            network: Ipv4Addr::from(u32::from(addr) & mask),
            prefix_len,
        })
    }

    /// How many addresses may be allocated: all but the network and broadcast addresses.
    pub fn size(&self) -> u32 {
        (1u32 << (32 - u32::from(self.prefix_len))) - 2
    }

    /// The `offset`-th allocatable address (0 is the first after the network address).
    pub fn nth(&self, offset: u32) -> Option<Ipv4Addr> {
        (offset < self.size()).then(|| Ipv4Addr::from(u32::from(self.network) + 1 + offset))
    }

    /// The offset of `ip` among the allocatable addresses, if it is one.
    pub fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let offset = u32::from(ip).checked_sub(u32::from(self.network) + 1)?;
        (offset < self.size()).then_some(offset)
    }
}

impl Default for Ipv4Cidr {
    /// Upstream's default service range, 10.96.0.0/12.
    fn default() -> Self {
        Self {
            network: Ipv4Addr::new(10, 96, 0, 0),
            prefix_len: 12,
        }
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidCidr(s.to_owned());
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        Self::new(addr, len).ok_or_else(bad)
    }
}

/// Allocates service cluster IPs and node ports in the store.
#[derive(Clone)]
pub struct ServiceAllocator {
    store: Arc<dyn Store>,
    cidr: Ipv4Cidr,
    node_ports: RangeInclusive<u16>,
}

impl fmt::Debug for ServiceAllocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAllocator")
            .field("cidr", &self.cidr)
            .field("node_ports", &self.node_ports)
            .finish_non_exhaustive()
    }
}

/// What one try at a key found.
enum Take {
    /// Newly taken for this service.
    Taken,
    /// Already this service's.
    Held,
    /// Held by another service.
    Busy,
}

impl ServiceAllocator {
    /// An allocator of `cidr` and `node_ports` over `store`.
    pub fn new(store: Arc<dyn Store>, cidr: Ipv4Cidr, node_ports: RangeInclusive<u16>) -> Self {
        Self {
            store,
            cidr,
            node_ports,
        }
    }

    /// The service range.
    pub fn cidr(&self) -> Ipv4Cidr {
        self.cidr
    }

    /// Allocates what a new service needs and fills it in: a cluster IP (`clusterIP`,
    /// `clusterIPs`, `ipFamilies`, `ipFamilyPolicy`) unless headless or ExternalName, and a node
    /// port for each port of a NodePort or LoadBalancer service. Requested values are checked
    /// (422 out of range or taken). On failure nothing stays allocated.
    pub async fn allocate(&self, service: &mut Value) -> Result<(), StatusError> {
        self.allocate_update(service, &Value::Null)
            .await
            .map(|_| ())
    }

    /// Allocates what an updated service needs beyond what its stored version `old` holds (a
    /// cluster IP when it stops being ExternalName, node ports for new ports or a new type,
    /// requested values not yet its own) and fills it in. Returns the keys taken: release them
    /// with [`ServiceAllocator::release_keys`] if the update is not written, and what `old`
    /// held and the update dropped with [`ServiceAllocator::release_dropped`] once it is. On
    /// failure nothing stays allocated.
    pub async fn allocate_update(
        &self,
        service: &mut Value,
        old: &Value,
    ) -> Result<Vec<String>, StatusError> {
        let owner = owner(service);
        let name = meta_str(service, "name");
        let ty = service
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_owned();
        let held = held_keys(old);
        let mut taken: Vec<String> = Vec::new();
        let result = self
            .allocate_into(service, &ty, &owner, &held, &mut taken)
            .await;
        if let Err(errs) = result {
            self.release_keys(&taken).await;
            return Err(match errs {
                Failure::Invalid(errs) => StatusError::invalid("", "Service", &name, &errs),
                Failure::Status(e) => e,
            });
        }
        Ok(taken)
    }

    /// Releases keys this allocator took for a write that did not happen.
    pub async fn release_keys(&self, keys: &[String]) {
        for key in keys {
            let _ = self.store.delete(key, None).await;
        }
    }

    /// Releases what the stored version `old` of a service held and its written update `new`
    /// no longer does.
    pub async fn release_dropped(&self, old: &Value, new: &Value) {
        let kept = held_keys(new);
        let dropped: Vec<String> = held_keys(old)
            .into_iter()
            .filter(|k| !kept.contains(k))
            .collect();
        self.release_held(old, dropped).await;
    }

    async fn allocate_into(
        &self,
        service: &mut Value,
        ty: &str,
        owner: &Value,
        held: &BTreeSet<String>,
        taken: &mut Vec<String>,
    ) -> Result<(), Failure> {
        let Some(spec) = service.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        if ty != "ExternalName" {
            let requested = spec
                .get("clusterIPs")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .or_else(|| spec.get("clusterIP").and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned();
            let path = Path::new("spec").child("clusterIPs");
            let ip = if requested == "None" {
                None
            } else if requested.is_empty() {
                Some(self.allocate_ip(owner, taken).await?)
            } else {
                let invalid = |detail: String| {
                    let mut errs = ErrorList::new();
                    errs.push(FieldError::invalid(&path, json!([requested]), detail));
                    Failure::Invalid(errs)
                };
                let ip: Ipv4Addr = requested.parse().map_err(|_| {
                    invalid(format!(
                        "failed to allocate IP {requested}: must be a valid IP address"
                    ))
                })?;
                if self.cidr.offset(ip).is_none() {
                    return Err(invalid(format!(
                        "failed to allocate IP {requested}: provided IP is not in the valid range. The range of valid IPs is {}",
                        self.cidr
                    )));
                }
                let key = format!("{IP_PREFIX}{ip}");
                match self.take_unless_held(&key, owner, held).await? {
                    Take::Taken => taken.push(key),
                    Take::Held => {}
                    Take::Busy => {
                        return Err(invalid(format!(
                            "failed to allocate IP {requested}: provided IP is already allocated"
                        )));
                    }
                }
                Some(ip)
            };
            let text = ip.map_or_else(|| "None".to_owned(), |ip| ip.to_string());
            spec.insert("clusterIP".to_owned(), json!(text));
            spec.insert("clusterIPs".to_owned(), json!([text]));
            if ip.is_some() || !spec.contains_key("ipFamilies") {
                spec.insert("ipFamilies".to_owned(), json!(["IPv4"]));
            }
            spec.entry("ipFamilyPolicy")
                .or_insert_with(|| json!("SingleStack"));
        }
        let lb_ports = spec
            .get("allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let wants_ports = ty == "NodePort" || (ty == "LoadBalancer" && lb_ports);
        let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
            return Ok(());
        };
        if !wants_ports {
            return Ok(());
        }
        let mut mine: Vec<u16> = Vec::new();
        for (i, port) in ports.iter_mut().enumerate() {
            let requested = port.get("nodePort").and_then(Value::as_i64).unwrap_or(0);
            let value = if requested == 0 {
                self.allocate_port(owner, taken).await?
            } else {
                let path = Path::new("spec").child("ports").index(i).child("nodePort");
                let invalid = |detail: String| {
                    let mut errs = ErrorList::new();
                    errs.push(FieldError::invalid(&path, requested, detail));
                    Failure::Invalid(errs)
                };
                let p = u16::try_from(requested)
                    .ok()
                    .filter(|p| self.node_ports.contains(p))
                    .ok_or_else(|| {
                        invalid(format!(
                            "provided port is not in the valid range. The range of valid ports is {}-{}",
                            self.node_ports.start(),
                            self.node_ports.end()
                        ))
                    })?;
                // The same port may serve two protocols of one service.
                if !mine.contains(&p) {
                    let key = format!("{NODE_PORT_PREFIX}{p}");
                    match self.take_unless_held(&key, owner, held).await? {
                        Take::Taken => taken.push(key),
                        Take::Held => {}
                        Take::Busy => {
                            return Err(invalid("provided port is already allocated".to_owned()));
                        }
                    }
                }
                p
            };
            mine.push(value);
            if let Some(port) = port.as_object_mut() {
                port.insert("nodePort".to_owned(), json!(value));
            }
        }
        Ok(())
    }

    /// Releases the cluster IPs and node ports of a deleted service.
    pub async fn release(&self, service: &Value) {
        self.release_held(service, held_keys(service)).await;
    }

    /// Deletes those of `keys` that `service` holds.
    async fn release_held(&self, service: &Value, keys: impl IntoIterator<Item = String>) {
        let want = owner(service);
        for key in keys {
            // Release only what this service holds.
            let Ok(Some(kv)) = self.store.get(&key).await else {
                continue;
            };
            let held: Value = serde_json::from_slice(&kv.value).unwrap_or(Value::Null);
            if held == want {
                let _ = self.store.delete(&key, Some(kv.mod_revision)).await;
            }
        }
    }

    /// A free cluster IP, taken: random picks above the static band first (upstream keeps the
    /// low addresses for requested IPs), then the range in order.
    async fn allocate_ip(
        &self,
        owner: &Value,
        taken: &mut Vec<String>,
    ) -> Result<Ipv4Addr, Failure> {
        let size = self.cidr.size();
        let band = (size / 16).clamp(16, 256).min(size);
        let key_of = |offset: u32| self.cidr.nth(offset).map(|ip| format!("{IP_PREFIX}{ip}"));
        if size > band {
            for _ in 0..RANDOM_ATTEMPTS {
                let offset = band + random_u32() % (size - band);
                if let Some(ip) = self.cidr.nth(offset)
                    && let Take::Taken = self.take(&format!("{IP_PREFIX}{ip}"), owner).await?
                {
                    taken.push(format!("{IP_PREFIX}{ip}"));
                    return Ok(ip);
                }
            }
        }
        let used = self.used(IP_PREFIX).await?;
        for offset in (band..size).chain(0..band) {
            let Some(key) = key_of(offset) else { continue };
            if used.binary_search(&key).is_ok() {
                continue;
            }
            if let Take::Taken = self.take(&key, owner).await? {
                taken.push(key);
                if let Some(ip) = self.cidr.nth(offset) {
                    return Ok(ip);
                }
            }
        }
        Err(Failure::Status(StatusError::internal(format!(
            "failed to allocate a serviceIP: range is full ({})",
            self.cidr
        ))))
    }

    /// A free node port, taken: random picks first, then the range in order.
    async fn allocate_port(&self, owner: &Value, taken: &mut Vec<String>) -> Result<u16, Failure> {
        let (start, end) = (*self.node_ports.start(), *self.node_ports.end());
        let size = u32::from(end.saturating_sub(start)) + 1;
        for _ in 0..RANDOM_ATTEMPTS {
            let Ok(p) = u16::try_from(u32::from(start) + random_u32() % size) else {
                continue;
            };
            let key = format!("{NODE_PORT_PREFIX}{p}");
            if let Take::Taken = self.take(&key, owner).await? {
                taken.push(key);
                return Ok(p);
            }
        }
        let used = self.used(NODE_PORT_PREFIX).await?;
        for p in self.node_ports.clone() {
            let key = format!("{NODE_PORT_PREFIX}{p}");
            if used.binary_search(&key).is_ok() {
                continue;
            }
            if let Take::Taken = self.take(&key, owner).await? {
                taken.push(key);
                return Ok(p);
            }
        }
        Err(Failure::Status(StatusError::internal(format!(
            "failed to allocate a nodePort: range is full ({start}-{end})"
        ))))
    }

    /// Takes `key` for `owner` unless the stored service already holds it.
    async fn take_unless_held(
        &self,
        key: &str,
        owner: &Value,
        held: &BTreeSet<String>,
    ) -> Result<Take, Failure> {
        if held.contains(key) {
            return Ok(Take::Held);
        }
        self.take(key, owner).await
    }

    /// Creates `key` for `owner` if it is absent.
    async fn take(&self, key: &str, owner: &Value) -> Result<Take, Failure> {
        let value = Bytes::from(owner.to_string());
        match self.store.create(key, value).await {
            Ok(_) => Ok(Take::Taken),
            Err(kube_store::Error::AlreadyExists { .. }) => Ok(Take::Busy),
            Err(e) => Err(Failure::Status(StatusError::internal(e))),
        }
    }

    /// The keys taken under `prefix`, sorted.
    async fn used(&self, prefix: &str) -> Result<Vec<String>, Failure> {
        let mut keys = Vec::new();
        let mut request = ListRequest::prefix(prefix);
        loop {
            let page = self
                .store
                .list(request.clone())
                .await
                .map_err(|e| Failure::Status(StatusError::internal(e)))?;
            keys.extend(page.items.iter().map(|kv| kv.key.clone()));
            match (page.more, page.items.last()) {
                (true, Some(last)) => {
                    request = ListRequest::prefix(prefix)
                        .at_revision(page.revision)
                        .start_after(last.key.clone());
                }
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }
}

/// Why an allocation failed.
enum Failure {
    /// A requested value is out of range or taken (422).
    Invalid(ErrorList),
    /// Anything else.
    Status(StatusError),
}

/// The allocation keys a service's spec names: its cluster IPs and node ports.
fn held_keys(service: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let ips = service
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for ip in ips.iter().filter_map(Value::as_str) {
        if let Ok(ip) = ip.parse::<Ipv4Addr>() {
            keys.insert(format!("{IP_PREFIX}{ip}"));
        }
    }
    let ports = service
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for p in ports.iter().filter_map(|p| p.get("nodePort")?.as_u64()) {
        keys.insert(format!("{NODE_PORT_PREFIX}{p}"));
    }
    keys
}

/// What an allocation key holds: the owning service.
fn owner(service: &Value) -> Value {
    json!({
        "namespace": meta_str(service, "namespace"),
        "name": meta_str(service, "name"),
    })
}

fn meta_str(obj: &Value, field: &str) -> String {
    super::meta::meta_str(obj, field).to_owned()
}

/// A random number from a v4 UUID's random bytes.
fn random_u32() -> u32 {
    let b = uuid::Uuid::new_v4().into_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_and_counts() {
        let c: Ipv4Cidr = "10.96.0.0/12".parse().unwrap();
        assert_eq!(c, Ipv4Cidr::default());
        assert_eq!(c.size(), (1 << 20) - 2);
        assert_eq!(c.nth(0), Some(Ipv4Addr::new(10, 96, 0, 1)));
        assert_eq!(
            c.offset(Ipv4Addr::new(10, 111, 255, 254)),
            Some(c.size() - 1)
        );
        assert_eq!(c.offset(Ipv4Addr::new(10, 111, 255, 255)), None);
        assert_eq!(c.offset(Ipv4Addr::new(10, 96, 0, 0)), None);
        assert!("10.0.0.0/31".parse::<Ipv4Cidr>().is_err());
        assert!("nonsense".parse::<Ipv4Cidr>().is_err());
        assert_eq!(
            "10.1.2.3/24".parse::<Ipv4Cidr>().unwrap().to_string(),
            "10.1.2.0/24"
        );
    }
}
