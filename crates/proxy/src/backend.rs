//! Where the desired state goes: the only code that changes the kernel.
//!
//! - `nftables`: the ruleset of [`crate::nftables`], loaded with `nft -f -`.
//! - `dry-run`: prints what it would do and touches nothing.
//! - `ipvs`: needs IPVS in the kernel; its netlink programming is not built
//!   yet, so it refuses with a clear message naming the alternative.

use crate::desired::DesiredState;
use crate::nftables::{ruleset, TABLE};
use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug)]
pub enum Backend {
    Nftables,
    DryRun,
}

/// Whether the running kernel has IPVS (loaded or built in).
pub fn kernel_has_ipvs() -> bool {
    std::path::Path::new("/proc/net/ip_vs").exists()
}

impl Backend {
    /// Chooses the backend for `--proxy-mode`, or says why it cannot.
    pub fn for_mode(mode: &str, dry_run: bool) -> anyhow::Result<Self> {
        if dry_run {
            return Ok(Self::DryRun);
        }
        match mode {
            "nftables" => Ok(Self::Nftables),
            "ipvs" if !kernel_has_ipvs() => anyhow::bail!(
                "the kernel has no IPVS (/proc/net/ip_vs is missing; CONFIG_IP_VS is not set or ip_vs is not loaded): run with --proxy-mode nftables"
            ),
            "ipvs" => anyhow::bail!("IPVS programming over netlink is not built yet: run with --proxy-mode nftables (or --dry-run to see the IPVS table)"),
            "userspace" => anyhow::bail!("the userspace mode is not built yet: run with --proxy-mode nftables"),
            other => anyhow::bail!("unknown --proxy-mode {other:?}: choose ipvs, nftables or userspace"),
        }
    }

    /// Makes the kernel match `state`.
    pub fn sync(&self, state: &DesiredState) -> anyhow::Result<()> {
        match self {
            Self::Nftables => nft(&ruleset(state)),
            Self::DryRun => {
                print!("{}", crate::render::ipvsadm_ln(&state.table));
                Ok(())
            }
        }
    }

    /// `--cleanup` and shutdown: removes everything this proxy created.
    pub fn cleanup(&self) -> anyhow::Result<()> {
        match self {
            Self::Nftables => nft(&format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\n")),
            Self::DryRun => Ok(()),
        }
    }
}

/// Runs `nft -f -` with `script` as one transaction.
fn nft(script: &str) -> anyhow::Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("running nft: {e} (is the nftables package installed?)"))?;
    child.stdin.take().map(|mut stdin| stdin.write_all(script.as_bytes())).transpose()?;
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "nft -f - failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}
