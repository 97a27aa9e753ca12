//! The node's own programs (`ip`, `nsenter`, `setsid`, `busybox`...), found
//! on the agent's PATH: the containers' PATH is for their commands. A leaf.

use std::path::PathBuf;

/// A program's path on the node agent's own PATH (the name alone if none).
pub fn which(name: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| name.into())
}
