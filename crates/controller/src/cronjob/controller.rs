//! One reconcile of a CronJob on the shared loop ([`crate::owned`], whose
//! children here are Jobs): [`super::desired::plan`] at the current time,
//! its deletes, create and Events, then the status; back at the next
//! schedule time.

use super::desired::plan;
use crate::owned::{Owned, Owner};
use informer::cache::Key;
use informer::reconcile::Action;
use k8s_openapi::api::batch::v1::{CronJob, Job};

impl Owner for CronJob {
    type Child = Job;
    const CONTROLLER: &'static str = "cronjob";
    const COMPONENT: &'static str = "cronjob-controller";

    async fn reconcile(state: &mut Owned<Self>, key: &Key) -> Result<Action, kube::Error> {
        let Some(cj) = state.owners.get(key).cloned() else { return Ok(Action::await_change()) };
        let now = jiff::Timestamp::now();
        let jobs = state.children_of(&cj);
        let step = plan(&cj, &jobs.iter().collect::<Vec<&Job>>(), now);
        for job in &step.delete {
            state.delete(&cj, job, format!("Deleted job {job}")).await?;
        }
        if let Some(job) = &step.create {
            match state.create(&cj, job, |name| format!("Created job {name}")).await {
                // Made already (by a pass whose status write was lost): the next plan finds it.
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                other => other?,
            }
        }
        for (warning, reason, message) in step.events {
            state.event(&cj, warning, reason, message).await;
        }
        // The status of what is there now (the new Job, with its uid).
        let jobs = state.children_of(&cj);
        let mut updated = cj.as_ref().clone();
        updated.status = Some(plan(&cj, &jobs.iter().collect::<Vec<&Job>>(), now).status);
        state.write_status(&cj, updated).await?;
        Ok(step.requeue.map_or_else(Action::await_change, Action::requeue))
    }
}
