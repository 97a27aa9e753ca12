//! The lab's node agent: registers a Node and runs Pods as network
//! namespaces with a built-in demo HTTP app.
//!
//! Not built yet (issue "the lab").
