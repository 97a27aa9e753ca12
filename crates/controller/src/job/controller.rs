//! One reconcile of a Job on the shared loop ([`crate::owned`]): the pods
//! [`super::desired::plan`] says, the status, and the Events upstream
//! records when a Job ends (`Completed`, or a Warning naming the reason).

use super::desired::{new_pod, plan, End};
use crate::owned::{Owned, Owner};
use informer::cache::Key;
use informer::reconcile::Action;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

impl Owner for Job {
    type Child = Pod;
    const CONTROLLER: &'static str = "job";
    const COMPONENT: &'static str = "job-controller";

    async fn reconcile(state: &mut Owned<Self>, key: &Key) -> Result<Action, kube::Error> {
        let Some(job) = state.owners.get(key).cloned() else { return Ok(Action::await_change()) };
        let pods = state.children_of(&job);
        let now = jiff::Timestamp::now().as_second();
        let step = plan(&job, &pods.iter().collect::<Vec<&Pod>>(), now);
        for _ in 0..step.create {
            state.create(&job, &new_pod(&job), |pod| format!("Created pod: {pod}")).await?;
        }
        for pod in &step.delete {
            state.delete(&job, pod, format!("Deleted pod: {pod}")).await?;
        }
        let pods = state.children_of(&job);
        let after = plan(&job, &pods.iter().collect::<Vec<&Pod>>(), now);
        let mut updated = job.as_ref().clone();
        updated.status = Some(after.status);
        state.write_status(&job, updated).await?;
        match step.finished {
            Some(End::Succeeded) => state.event(&job, false, "Completed", "Job completed".into()).await,
            Some(e) => {
                let (_, _, reason, message) = e.words();
                state.event(&job, true, reason, message.into()).await;
            }
            None => {}
        }
        Ok(step.recheck.map_or_else(Action::await_change, Action::requeue))
    }
}
