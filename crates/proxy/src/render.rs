//! A table printed exactly as `ipvsadm -Ln` prints it, so a learner can
//! compare what the proxy wants with what the kernel has, on any machine.
//!
//! ```text
//! IP Virtual Server version 1.2.1 (size=4096)
//! Prot LocalAddress:Port Scheduler Flags
//!   -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
//! TCP  10.108.46.110:80 rr
//!   -> 10.244.1.31:80               Masq    1      0          0
//! ```

use crate::model::{RealServerKey, Table, VirtualServerKey};
use std::fmt::Write;
use std::net::IpAddr;

fn address(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// Renders `table` as `ipvsadm -Ln` does (with ipvsadm's column widths and
/// its trailing spaces).
pub fn ipvsadm_ln(table: &Table) -> String {
    let mut out = String::from(
        "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n",
    );
    for (VirtualServerKey { protocol, address: ip, port }, vs) in table {
        let _ = write!(out, "{}  {} {}", protocol.as_str(), address(*ip, *port), vs.scheduler);
        if let Some(timeout) = vs.persistence_timeout {
            let _ = write!(out, " persistent {timeout}");
        }
        out.push('\n');
        for (RealServerKey { address: rip, port: rport }, rs) in &vs.real_servers {
            let _ = writeln!(
                out,
                "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
                address(*rip, *rport),
                "Masq",
                rs.weight,
                rs.active_connections,
                rs.inactive_connections
            );
        }
    }
    out
}
