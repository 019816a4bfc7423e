//! One sync of a Deployment: claim its ReplicaSets, find or create the new one, scale, roll,
//! clean up history and write status (upstream's `sync.go`, `rolling.go`, `recreate.go`,
//! `progress.go`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube_api::client::runtime::EventType;
use kube_api::client::{Api, DeleteParams, Patch, PatchParams, PostParams};

use super::util::{self, POD_TEMPLATE_HASH, reason};
use super::{Shared, selector_of};
use crate::controllers::common::{
    self, Error, Result, claim, controller_of, controller_ref, is_already_exists, is_not_found,
};

/// The Deployment's ReplicaSets during one sync.
struct Sets {
    new: Option<ReplicaSet>,
    old: Vec<ReplicaSet>,
}

impl Sets {
    fn all(&self) -> Vec<&ReplicaSet> {
        self.old.iter().chain(self.new.as_ref()).collect()
    }
}

struct Sync<'a> {
    s: &'a Shared,
    d: Deployment,
    ns: String,
    now: Timestamp,
}

pub(super) async fn sync(s: &Shared, key: &str) -> Result<()> {
    let Some(d) = s.deployments.get(key) else {
        return Ok(());
    };
    let ns = d.metadata.namespace.clone().unwrap_or_default();
    let mut sync = Sync {
        s,
        d: (*d).clone(),
        ns,
        now: s.ctx.now(),
    };
    let selector = selector_of(&sync.d)?;
    if selector.is_empty() {
        // Upstream refuses to select every pod: it only records the generation it saw.
        if sync.status().observed_generation != sync.d.metadata.generation {
            let mut status = sync.status();
            status.observed_generation = sync.d.metadata.generation;
            sync.write_status(status).await?;
        }
        return Ok(());
    }
    let uid = sync.d.metadata.uid.clone().unwrap_or_default();
    let candidates: Vec<Arc<ReplicaSet>> = common::controlled_or_orphans(&s.rs, &sync.ns, &uid);
    let client = s.ctx.client().clone();
    let owned = claim(
        |ns| Api::<ReplicaSet>::namespaced(client.clone(), ns),
        &Api::<Deployment>::namespaced(client.clone(), &sync.ns),
        &sync.d,
        &selector,
        candidates,
    )
    .await?;
    let mut rss: Vec<ReplicaSet> = owned.iter().map(|r| (**r).clone()).collect();
    sort_by_creation(&mut rss);
    if common::is_deleting(&sync.d.metadata) {
        let sets = sync.split(rss);
        return sync.sync_status(&sets).await;
    }
    sync.check_paused_condition().await?;
    if sync.d.spec.paused == Some(true) || sync.is_scaling_event(&rss) {
        return sync.scale_only(rss).await;
    }
    if util::is_rolling_update(&sync.d) {
        sync.rolling(rss).await
    } else {
        sync.recreate(rss).await
    }
}

fn sort_by_creation(rss: &mut [ReplicaSet]) {
    rss.sort_by(|a, b| {
        let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
        ta.cmp(&tb)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

impl Sync<'_> {
    fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    fn name(&self) -> String {
        self.d.metadata.name.clone().unwrap_or_default()
    }

    fn rs_api(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.s.ctx.client().clone(), &self.ns)
    }

    fn event(&self, reason: &str, note: String) {
        self.s.ctx.recorder("deployment-controller").event_for(
            &self.d,
            EventType::Normal,
            reason,
            "Scale",
            note,
        );
    }

    /// The new ReplicaSet (the oldest whose template equals the Deployment's) and the rest.
    fn split(&self, rss: Vec<ReplicaSet>) -> Sets {
        let mut new = None;
        let mut old = Vec::new();
        for rs in rss {
            let same = rs
                .spec
                .template
                .as_ref()
                .is_some_and(|t| util::equal_ignore_hash(t, &self.d.spec.template));
            if same && new.is_none() {
                new = Some(rs);
            } else {
                old.push(rs);
            }
        }
        Sets { new, old }
    }

    async fn write_status(&mut self, status: DeploymentStatus) -> Result<()> {
        if self.d.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut d = self.d.clone();
        d.status = Some(status);
        let api: Api<Deployment> = Api::namespaced(self.s.ctx.client().clone(), &self.ns);
        match api
            .replace_status(&self.name(), &PostParams::default(), &d)
            .await
        {
            Ok(updated) => self.d = updated,
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Progressing becomes Unknown with DeploymentPaused or DeploymentResumed on a change
    /// (upstream's `checkPausedConditions`).
    async fn check_paused_condition(&mut self) -> Result<()> {
        if !util::has_progress_deadline(&self.d) {
            return Ok(());
        }
        let mut status = self.status();
        let paused_cond = util::condition(&status, "Progressing")
            .is_some_and(|c| c.reason.as_deref() == Some(reason::PAUSED));
        let paused = self.d.spec.paused == Some(true);
        let cond = if paused && !paused_cond {
            util::new_condition(
                "Progressing",
                "Unknown",
                reason::PAUSED,
                "Deployment is paused",
                self.now,
            )
        } else if !paused && paused_cond {
            util::new_condition(
                "Progressing",
                "Unknown",
                reason::RESUMED,
                "Deployment is resumed",
                self.now,
            )
        } else {
            return Ok(());
        };
        util::set_condition(&mut status, cond);
        self.write_status(status).await
    }

    /// Whether `spec.replicas` differs from what an active ReplicaSet was last scaled for.
    fn is_scaling_event(&self, rss: &[ReplicaSet]) -> bool {
        let replicas = i64::from(util::replicas(&self.d));
        rss.iter()
            .filter(|rs| util::rs_replicas(rs) > 0)
            .filter_map(|rs| util::annotation_i64(rs, util::DESIRED_REPLICAS))
            .any(|desired| desired != replicas)
    }

    /// Finds the new ReplicaSet; brings its revision and annotations up to date; creates it
    /// when `create` and it is missing (upstream's `getAllReplicaSetsAndSyncRevision`).
    async fn sets(&mut self, rss: Vec<ReplicaSet>, create: bool) -> Result<Sets> {
        let mut sets = self.split(rss);
        let max_old = sets.old.iter().map(util::revision).max().unwrap_or(0);
        let new_revision = max_old + 1;
        if let Some(existing) = sets.new.take() {
            let mut copy = existing.clone();
            let annotations_changed =
                util::set_new_rs_annotations(&self.d, &mut copy, new_revision, true);
            let min_ready_changed = copy.spec.min_ready_seconds != self.d.spec.min_ready_seconds;
            if annotations_changed || min_ready_changed {
                copy.spec.min_ready_seconds = self.d.spec.min_ready_seconds;
                copy = self
                    .rs_api()
                    .replace(
                        copy.metadata.name.as_deref().unwrap_or_default(),
                        &PostParams::default(),
                        &copy,
                    )
                    .await?;
            }
            self.sync_revision(util::revision(&copy)).await?;
            if util::has_progress_deadline(&self.d)
                && util::condition(&self.status(), "Progressing").is_none()
            {
                let mut status = self.status();
                let msg = format!(
                    "Found new replica set {:?}",
                    copy.metadata.name.clone().unwrap_or_default()
                );
                util::set_condition(
                    &mut status,
                    util::new_condition("Progressing", "True", reason::FOUND_NEW_RS, msg, self.now),
                );
                self.write_status(status).await?;
            }
            sets.new = Some(copy);
            return Ok(sets);
        }
        if !create {
            return Ok(sets);
        }
        let collision_count = self.status().collision_count;
        let hash = util::pod_template_hash(&self.d.spec.template, collision_count);
        let mut template = self.d.spec.template.clone();
        template
            .metadata
            .get_or_insert_with(ObjectMeta::default)
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.to_owned(), hash.clone());
        let mut selector = self.d.spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(BTreeMap::new)
            .insert(POD_TEMPLATE_HASH.to_owned(), hash.clone());
        let name = format!("{}-{hash}", self.name());
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.ns.clone()),
                owner_references: Some(vec![controller_ref(&self.d)]),
                labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                ..ObjectMeta::default()
            },
            spec: ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: self.d.spec.min_ready_seconds,
                selector,
                template: Some(template),
            },
            status: None,
        };
        let all: Vec<&ReplicaSet> = sets.old.iter().collect();
        let replicas = self.new_rs_new_replicas(&all, &rs);
        rs.spec.replicas = Some(replicas);
        util::set_new_rs_annotations(&self.d, &mut rs, new_revision, false);
        let created = match self.rs_api().create(&PostParams::default(), &rs).await {
            Ok(created) => created,
            Err(e) if is_already_exists(&e) => {
                // The cache may be behind: the one there may be ours, with our template.
                let existing = self.rs_api().get(&name).await?;
                let ours = controller_of(&existing.metadata)
                    .is_some_and(|r| Some(&r.uid) == self.d.metadata.uid.as_ref());
                let same = existing
                    .spec
                    .template
                    .as_ref()
                    .is_some_and(|t| util::equal_ignore_hash(t, &self.d.spec.template));
                if ours && same {
                    sets.new = Some(existing);
                    return Ok(sets);
                }
                // A hash collision: the next sync hashes with a higher collision count.
                let mut status = self.status();
                status.collision_count = Some(collision_count.unwrap_or(0) + 1);
                self.write_status(status).await?;
                return Err(Error::Invalid(format!(
                    "replica set {name:?} exists with another template; collisionCount raised"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if replicas > 0 {
            self.event(
                "ScalingReplicaSet",
                format!("Scaled up replica set {name} from 0 to {replicas}"),
            );
        }
        self.sync_revision(new_revision).await?;
        if util::has_progress_deadline(&self.d) {
            let mut status = self.status();
            util::set_condition(
                &mut status,
                util::new_condition(
                    "Progressing",
                    "True",
                    reason::NEW_RS_CREATED,
                    format!("Created new replica set {name:?}"),
                    self.now,
                ),
            );
            self.write_status(status).await?;
        }
        sets.new = Some(created);
        Ok(sets)
    }

    /// Mirrors the new ReplicaSet's revision on the Deployment.
    async fn sync_revision(&mut self, revision: i64) -> Result<()> {
        let current = self
            .d
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(util::REVISION))
            .cloned();
        if current.as_deref() == Some(revision.to_string().as_str()) {
            return Ok(());
        }
        let api: Api<Deployment> = Api::namespaced(self.s.ctx.client().clone(), &self.ns);
        let patch = serde_json::json!({"metadata": {
            "annotations": {util::REVISION: revision.to_string()},
            "resourceVersion": self.d.metadata.resource_version,
        }});
        self.d = api
            .patch(&self.name(), &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        Ok(())
    }

    /// What the new ReplicaSet should be scaled to now (upstream's `NewRSNewReplicas`).
    fn new_rs_new_replicas(&self, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
        let replicas = util::replicas(&self.d);
        if !util::is_rolling_update(&self.d) {
            return replicas;
        }
        let (surge, _) = util::fenceposts(&self.d);
        let current: i32 = all
            .iter()
            .filter(|r| r.metadata.name != new.metadata.name)
            .map(|r| util::rs_replicas(r))
            .sum::<i32>()
            + util::rs_replicas(new);
        let max_total = replicas + surge;
        if current >= max_total {
            return util::rs_replicas(new);
        }
        let up = (max_total - current).min(replicas - util::rs_replicas(new));
        util::rs_replicas(new) + up.max(0)
    }

    /// Scales `rs` to `to`, refreshing its replica annotations; returns the stored object and
    /// whether its size changed.
    async fn scale(&self, rs: &ReplicaSet, to: i32) -> Result<(ReplicaSet, bool)> {
        let (surge, _) = util::fenceposts(&self.d);
        let replicas = util::replicas(&self.d);
        let mut copy = rs.clone();
        let size_changed = util::rs_replicas(rs) != to;
        let annotations_changed =
            util::set_replicas_annotations(&mut copy, replicas, replicas + surge);
        if !size_changed && !annotations_changed {
            return Ok((copy, false));
        }
        copy.spec.replicas = Some(to);
        let name = copy.metadata.name.clone().unwrap_or_default();
        let updated = self
            .rs_api()
            .replace(&name, &PostParams::default(), &copy)
            .await?;
        if size_changed {
            let dir = if to > util::rs_replicas(rs) {
                "up"
            } else {
                "down"
            };
            self.event(
                "ScalingReplicaSet",
                format!(
                    "Scaled {dir} replica set {name} from {} to {to}",
                    util::rs_replicas(rs)
                ),
            );
        }
        Ok((updated, size_changed))
    }

    /// Paused, or `spec.replicas` changed: scale only (upstream's `sync`).
    async fn scale_only(&mut self, rss: Vec<ReplicaSet>) -> Result<()> {
        let mut sets = self.sets(rss, false).await?;
        self.scale_sets(&mut sets).await?;
        if self.d.spec.paused == Some(true) {
            self.cleanup(&sets).await?;
        }
        self.sync_status(&sets).await
    }

    /// Upstream's `scale`: one active ReplicaSet takes `spec.replicas`; a saturated new one
    /// leaves the old ones nothing; otherwise a rolling Deployment spreads the change in
    /// proportion to each ReplicaSet's size.
    async fn scale_sets(&mut self, sets: &mut Sets) -> Result<()> {
        let replicas = util::replicas(&self.d);
        let active: Vec<&ReplicaSet> = sets
            .all()
            .into_iter()
            .filter(|r| util::rs_replicas(r) > 0)
            .collect();
        let target = match active.len() {
            0 => sets.new.as_ref().or(sets.old.last()).cloned(),
            1 => Some(active[0].clone()),
            _ => None,
        };
        if let Some(rs) = target {
            let updated = self.scale(&rs, replicas).await?.0;
            replace_in(sets, updated);
            return Ok(());
        }
        if let Some(new) = &sets.new
            && is_saturated(&self.d, new)
        {
            for old in sets.old.clone() {
                if util::rs_replicas(&old) > 0 {
                    let updated = self.scale(&old, 0).await?.0;
                    replace_in(sets, updated);
                }
            }
            return Ok(());
        }
        if !util::is_rolling_update(&self.d) {
            return Ok(());
        }
        let (surge, _) = util::fenceposts(&self.d);
        let mut active: Vec<ReplicaSet> = active.into_iter().cloned().collect();
        let total = util::spec_sum(active.iter());
        let allowed = if replicas > 0 { replicas + surge } else { 0 };
        let to_add = allowed - total;
        // Larger first; newer first when adding, older first when removing.
        active.sort_by(|a, b| {
            let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
            let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
            let by_age = if to_add > 0 { tb.cmp(&ta) } else { ta.cmp(&tb) };
            util::rs_replicas(b).cmp(&util::rs_replicas(a)).then(by_age)
        });
        let mut sizes = Vec::with_capacity(active.len());
        let mut added = 0;
        for rs in &active {
            let proportion = if to_add != 0 {
                self.proportion(rs, to_add, added)
            } else {
                0
            };
            added += proportion;
            sizes.push(util::rs_replicas(rs) + proportion);
        }
        if let Some(first) = sizes.first_mut()
            && to_add != 0
        {
            *first = (*first + to_add - added).max(0);
        }
        for (rs, size) in active.iter().zip(sizes) {
            let updated = self.scale(rs, size).await?.0;
            replace_in(sets, updated);
        }
        Ok(())
    }

    /// Upstream's `GetProportion`.
    fn proportion(&self, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
        if util::rs_replicas(rs) == 0 || to_add == added {
            return 0;
        }
        let fraction = self.fraction(rs);
        let allowed = to_add - added;
        if to_add > 0 {
            fraction.min(allowed)
        } else {
            fraction.max(allowed)
        }
    }

    /// Upstream's `getReplicaSetFraction`.
    fn fraction(&self, rs: &ReplicaSet) -> i32 {
        let replicas = util::replicas(&self.d);
        if replicas == 0 {
            return -util::rs_replicas(rs);
        }
        let (surge, _) = util::fenceposts(&self.d);
        let deployment_replicas = replicas + surge;
        let annotated = util::annotation_i64(rs, util::MAX_REPLICAS)
            .map(|v| v as i32)
            .unwrap_or_else(|| self.status().replicas.unwrap_or(0));
        if annotated <= 0 {
            return 0;
        }
        let size = f64::from(util::rs_replicas(rs)) * f64::from(deployment_replicas)
            / f64::from(annotated);
        size.round() as i32 - util::rs_replicas(rs)
    }

    /// RollingUpdate (upstream's `rolloutRolling`).
    async fn rolling(&mut self, rss: Vec<ReplicaSet>) -> Result<()> {
        let mut sets = self.sets(rss, true).await?;
        let Some(new) = sets.new.clone() else {
            return self.sync_rollout_status(&sets).await;
        };
        // Scale up the new ReplicaSet within maxSurge.
        let replicas = util::replicas(&self.d);
        let target = if util::rs_replicas(&new) > replicas {
            replicas
        } else {
            self.new_rs_new_replicas(&sets.all(), &new)
        };
        if util::rs_replicas(&new) != replicas {
            let (updated, scaled) = self.scale(&new, target).await?;
            replace_in(&mut sets, updated);
            if scaled {
                return self.sync_rollout_status(&sets).await;
            }
        }
        if self.reconcile_old(&mut sets).await? {
            return self.sync_rollout_status(&sets).await;
        }
        let status = self.calculate_status(&sets);
        if util::deployment_complete(&self.d, &status) {
            self.cleanup(&sets).await?;
        }
        self.sync_rollout_status(&sets).await
    }

    /// Scales old ReplicaSets down within maxUnavailable, unhealthy ones first (upstream's
    /// `reconcileOldReplicaSets`); whether any was scaled.
    async fn reconcile_old(&mut self, sets: &mut Sets) -> Result<bool> {
        let old_pods = util::spec_sum(sets.old.iter());
        if old_pods == 0 {
            return Ok(false);
        }
        let Some(new) = sets.new.clone() else {
            return Ok(false);
        };
        let all_pods = util::spec_sum(sets.all());
        let (_, max_unavailable) = util::fenceposts(&self.d);
        let min_available = util::replicas(&self.d) - max_unavailable;
        let new_unavailable = util::rs_replicas(&new) - util::rs_available(&new);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        // Unhealthy replicas first: they count for nothing.
        let mut cleaned = 0;
        for old in sets.old.clone() {
            if cleaned >= max_scaled_down {
                break;
            }
            let spec = util::rs_replicas(&old);
            let available = util::rs_available(&old);
            if spec == 0 || spec == available {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(spec - available);
            let updated = self.scale(&old, spec - down).await?.0;
            replace_in(sets, updated);
            cleaned += down;
        }
        // Then available ones, as long as minAvailable stays.
        let available: i32 = sets.all().into_iter().map(util::rs_available).sum();
        let mut scaled = 0;
        if available > min_available {
            let total = available - min_available;
            for old in sets.old.clone() {
                if scaled >= total {
                    break;
                }
                let spec = util::rs_replicas(&old);
                if spec == 0 {
                    continue;
                }
                let down = spec.min(total - scaled);
                let updated = self.scale(&old, spec - down).await?.0;
                replace_in(sets, updated);
                scaled += down;
            }
        }
        Ok(cleaned + scaled > 0)
    }

    /// Recreate (upstream's `rolloutRecreate`): every old pod goes before a new one starts.
    async fn recreate(&mut self, rss: Vec<ReplicaSet>) -> Result<()> {
        let mut sets = self.sets(rss, false).await?;
        let mut scaled = false;
        for old in sets.old.clone() {
            if util::rs_replicas(&old) > 0 {
                let (updated, s) = self.scale(&old, 0).await?;
                replace_in(&mut sets, updated);
                scaled |= s;
            }
        }
        if scaled || self.old_pods_running(&sets) {
            return self.sync_rollout_status(&sets).await;
        }
        if sets.new.is_none() {
            let rss: Vec<ReplicaSet> = sets.all().into_iter().cloned().collect();
            sets = self.sets(rss, true).await?;
        }
        if let Some(new) = sets.new.clone() {
            let updated = self.scale(&new, util::replicas(&self.d)).await?.0;
            replace_in(&mut sets, updated);
        }
        let status = self.calculate_status(&sets);
        if util::deployment_complete(&self.d, &status) {
            self.cleanup(&sets).await?;
        }
        self.sync_rollout_status(&sets).await
    }

    /// Whether a pod of an old ReplicaSet may still run.
    fn old_pods_running(&self, sets: &Sets) -> bool {
        if sets
            .old
            .iter()
            .any(|r| r.status.as_ref().is_some_and(|s| s.replicas > 0))
        {
            return true;
        }
        let old_uids: Vec<&str> = sets
            .old
            .iter()
            .filter_map(|r| r.metadata.uid.as_deref())
            .collect();
        self.s.pods.list_namespace(&self.ns).iter().any(|p| {
            controller_of(&p.metadata).is_some_and(|r| old_uids.contains(&r.uid.as_str()))
                && !matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                )
        })
    }

    /// Deletes the oldest scaled-down ReplicaSets beyond `revisionHistoryLimit`.
    async fn cleanup(&self, sets: &Sets) -> Result<()> {
        let limit = self.d.spec.revision_history_limit.unwrap_or(10).max(0) as usize;
        let mut alive: Vec<&ReplicaSet> = sets
            .old
            .iter()
            .filter(|r| !common::is_deleting(&r.metadata))
            .collect();
        if alive.len() <= limit {
            return Ok(());
        }
        let diff = alive.len() - limit;
        alive.sort_by_key(|r| util::revision(r));
        for rs in alive.into_iter().take(diff) {
            let st = rs.status.clone().unwrap_or_default();
            if st.replicas != 0
                || util::rs_replicas(rs) != 0
                || rs.metadata.generation > st.observed_generation
            {
                continue;
            }
            let name = rs.metadata.name.clone().unwrap_or_default();
            match self.rs_api().delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The counts from the ReplicaSets and the Available condition (upstream's
    /// `calculateStatus`).
    fn calculate_status(&self, sets: &Sets) -> DeploymentStatus {
        let all = sets.all();
        let available: i32 = all.iter().map(|r| util::rs_available(r)).sum();
        let total = util::spec_sum(all.iter().copied());
        let st = |r: &ReplicaSet| r.status.clone().unwrap_or_default();
        let mut status = DeploymentStatus {
            observed_generation: self.d.metadata.generation,
            replicas: Some(all.iter().map(|r| st(r).replicas).sum()),
            updated_replicas: Some(sets.new.as_ref().map_or(0, |r| st(r).replicas)),
            ready_replicas: Some(all.iter().map(|r| st(r).ready_replicas.unwrap_or(0)).sum()),
            available_replicas: Some(available),
            unavailable_replicas: Some((total - available).max(0)),
            collision_count: self.status().collision_count,
            conditions: self.status().conditions,
            terminating_replicas: None,
        };
        // A failure of the new ReplicaSet (a quota, a rejected pod) shows on the Deployment.
        let failure = sets.new.as_ref().and_then(|r| {
            r.status
                .as_ref()?
                .conditions
                .iter()
                .flatten()
                .find(|c| {
                    c.type_.as_deref() == Some("ReplicaFailure")
                        && c.status.as_deref() == Some("True")
                })
                .cloned()
        });
        match failure {
            Some(c) => util::set_condition(
                &mut status,
                util::new_condition(
                    "ReplicaFailure",
                    "True",
                    c.reason.as_deref().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                    self.now,
                ),
            ),
            None => util::remove_condition(&mut status, "ReplicaFailure"),
        }
        let (_, max_unavailable) = util::fenceposts(&self.d);
        let cond = if available >= util::replicas(&self.d) - max_unavailable {
            util::new_condition(
                "Available",
                "True",
                reason::MIN_AVAILABLE,
                "Deployment has minimum availability.",
                self.now,
            )
        } else {
            util::new_condition(
                "Available",
                "False",
                reason::MIN_UNAVAILABLE,
                "Deployment does not have minimum availability.",
                self.now,
            )
        };
        util::set_condition(&mut status, cond);
        status
    }

    /// Writes the counts only (upstream's `syncDeploymentStatus`).
    async fn sync_status(&mut self, sets: &Sets) -> Result<()> {
        let status = self.calculate_status(sets);
        self.write_status(status).await
    }

    /// Writes the counts and the Progressing condition, and requeues for the progress
    /// deadline (upstream's `syncRolloutStatus`).
    async fn sync_rollout_status(&mut self, sets: &Sets) -> Result<()> {
        let mut status = self.calculate_status(sets);
        if !util::has_progress_deadline(&self.d) {
            util::remove_condition(&mut status, "Progressing");
        } else {
            let current = util::condition(&status, "Progressing").cloned();
            let done = status.replicas == status.updated_replicas
                && current
                    .as_ref()
                    .is_some_and(|c| c.reason.as_deref() == Some(reason::NEW_RS_AVAILABLE));
            let new_name = sets
                .new
                .as_ref()
                .and_then(|r| r.metadata.name.clone())
                .unwrap_or_default();
            if !done {
                if util::deployment_complete(&self.d, &status) {
                    let msg = if sets.new.is_some() {
                        format!("ReplicaSet {new_name:?} has successfully progressed.")
                    } else {
                        format!("Deployment {:?} has successfully progressed.", self.name())
                    };
                    util::set_condition(
                        &mut status,
                        util::new_condition(
                            "Progressing",
                            "True",
                            reason::NEW_RS_AVAILABLE,
                            msg,
                            self.now,
                        ),
                    );
                } else if util::deployment_progressing(&self.d, &status) {
                    let mut cond = util::new_condition(
                        "Progressing",
                        "True",
                        reason::RS_UPDATED,
                        format!("ReplicaSet {new_name:?} is progressing."),
                        self.now,
                    );
                    if let Some(c) = &current
                        && c.status.as_deref() == Some("True")
                    {
                        cond.last_transition_time = c.last_transition_time.clone();
                    }
                    util::remove_condition(&mut status, "Progressing");
                    util::set_condition(&mut status, cond);
                } else if util::deployment_timed_out(&self.d, &status, self.now) {
                    util::set_condition(
                        &mut status,
                        util::new_condition(
                            "Progressing",
                            "False",
                            reason::TIMED_OUT,
                            format!("ReplicaSet {new_name:?} has timed out progressing."),
                            self.now,
                        ),
                    );
                }
            }
        }
        // Come back when the deadline passes, unless done or already timed out.
        if !util::deployment_complete(&self.d, &status)
            && let Some(at) = util::progress_deadline(&self.d, &status)
        {
            let after = at.duration_since(self.now).as_secs_f64().max(0.0);
            let key = common::key_of(&self.d);
            self.s
                .queue
                .add_after(key, Duration::from_secs_f64(after.max(1.0)));
        }
        self.write_status(status).await
    }
}

/// Whether the new ReplicaSet runs every replica (upstream's `IsSaturated`).
fn is_saturated(d: &Deployment, rs: &ReplicaSet) -> bool {
    let r = util::replicas(d);
    util::rs_replicas(rs) == r
        && util::annotation_i64(rs, util::DESIRED_REPLICAS) == Some(i64::from(r))
        && rs.status.as_ref().and_then(|s| s.available_replicas) == Some(r)
}

/// Puts `updated` in place of the ReplicaSet of the same name.
fn replace_in(sets: &mut Sets, updated: ReplicaSet) {
    if sets
        .new
        .as_ref()
        .is_some_and(|n| n.metadata.name == updated.metadata.name)
    {
        sets.new = Some(updated);
        return;
    }
    if let Some(o) = sets
        .old
        .iter_mut()
        .find(|o| o.metadata.name == updated.metadata.name)
    {
        *o = updated;
    }
}
