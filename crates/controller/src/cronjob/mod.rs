//! The CronJob controller: Jobs from `jobTemplate` at the times
//! `spec.schedule` names. [`schedule`] reads the schedule (pure);
//! [`desired`] decides what is due (pure, with the clock passed in);
//! [`controller`] writes, on the shared loop ([`crate::owned`]).

pub mod controller;
pub mod desired;
pub mod schedule;
