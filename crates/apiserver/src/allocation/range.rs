//! The two ranges Services draw from, mapped onto bitmap offsets:
//! `--service-cluster-ip-range` (ClusterIPs) and `--service-node-port-range`
//! (NodePorts), with upstream's errors and static bands.

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// Why a request for a value failed, worded as upstream's allocators.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    #[error("range is full")]
    Full,
    #[error("provided {0} is already allocated")]
    Allocated(&'static str),
    #[error("provided IP {ip} is not in the valid range. The range of valid IPs is {range}")]
    IpNotInRange { ip: String, range: String },
    #[error("provided port is not in the valid range. The range of valid ports is {0}")]
    PortNotInRange(String),
    #[error("{0} is reserved for the kubernetes Service")]
    Reserved(String),
}

/// The ClusterIP range: every address but the network and broadcast ones.
///
/// ```text
///  10.96.0.0  10.96.0.1 ... 10.96.1.0 | 10.96.1.1 ............ 10.111.255.254  10.111.255.255
///  network    offset 0      offset 255 | offset 256 ...                        broadcast
///  (never)    `kubernetes`  static band| dynamic picks
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    pub cidr: Ipv4Net,
}

impl IpRange {
    pub fn new(cidr: Ipv4Net) -> Result<Self, String> {
        if cidr.prefix_len() > 30 {
            return Err(format!("service IP range {cidr} is too small: it needs at least 2 usable addresses"));
        }
        Ok(Self { cidr: cidr.trunc() })
    }

    /// Usable addresses: all but network and broadcast.
    pub fn size(&self) -> usize {
        (1usize << (32 - self.cidr.prefix_len())) - 2
    }

    /// KEP-3070: the first `min(max(16, size/16), 256)` addresses are kept
    /// for static requests.
    pub fn static_band(&self) -> usize {
        (self.size() / 16).clamp(16, 256).min(self.size())
    }

    pub fn offset(&self, ip: Ipv4Addr) -> Result<usize, AllocationError> {
        let base = u32::from(self.cidr.network()) + 1;
        let v = u32::from(ip);
        if !self.cidr.contains(&ip) || v < base || (v - base) as usize >= self.size() {
            return Err(AllocationError::IpNotInRange { ip: ip.to_string(), range: self.cidr.to_string() });
        }
        Ok((v - base) as usize)
    }

    pub fn address(&self, offset: usize) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.cidr.network()) + 1 + offset as u32)
    }

    /// The first usable address, which upstream gives the `kubernetes` Service.
    pub fn first(&self) -> Ipv4Addr {
        self.address(0)
    }
}

/// The NodePort range, e.g. `30000-32767`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub base: u16,
    pub size: usize,
}

impl std::str::FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid port range {s:?}: want FIRST-LAST, e.g. 30000-32767");
        let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
        let (lo, hi): (u16, u16) = (lo.trim().parse().map_err(|_| bad())?, hi.trim().parse().map_err(|_| bad())?);
        if lo == 0 || hi < lo {
            return Err(bad());
        }
        Ok(Self { base: lo, size: (hi - lo) as usize + 1 })
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.base, self.base as usize + self.size - 1)
    }
}

impl PortRange {
    /// KEP-3668: the first `min(max(16, size/32), 128)` ports are kept for static requests.
    pub fn static_band(&self) -> usize {
        (self.size / 32).clamp(16, 128).min(self.size)
    }

    pub fn offset(&self, port: i32) -> Result<usize, AllocationError> {
        let off = port - self.base as i32;
        if off < 0 || off as usize >= self.size {
            return Err(AllocationError::PortNotInRange(self.to_string()));
        }
        Ok(off as usize)
    }

    pub fn port(&self, offset: usize) -> i32 {
        self.base as i32 + offset as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_cluster_ip_range() {
        let r = IpRange::new("10.96.0.0/12".parse().unwrap()).unwrap();
        assert_eq!(r.size(), (1 << 20) - 2);
        assert_eq!(r.static_band(), 256);
        assert_eq!(r.first(), Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(r.offset(Ipv4Addr::new(10, 96, 0, 1)), Ok(0));
        assert_eq!(r.address(r.size() - 1), Ipv4Addr::new(10, 111, 255, 254));
        for outside in [Ipv4Addr::new(10, 96, 0, 0), Ipv4Addr::new(10, 111, 255, 255), Ipv4Addr::new(10, 0, 0, 1)] {
            assert!(r.offset(outside).is_err(), "{outside}");
        }
        assert_eq!(
            r.offset(Ipv4Addr::new(10, 0, 0, 1)).unwrap_err().to_string(),
            "provided IP 10.0.0.1 is not in the valid range. The range of valid IPs is 10.96.0.0/12"
        );
    }

    #[test]
    fn small_ranges_and_bands() {
        let r = IpRange::new("10.0.0.0/29".parse().unwrap()).unwrap();
        assert_eq!((r.size(), r.static_band()), (6, 6));
        assert!(IpRange::new("10.0.0.0/31".parse().unwrap()).is_err());
        let p: PortRange = "30000-32767".parse().unwrap();
        assert_eq!((p.size, p.static_band()), (2768, 86));
        assert_eq!(p.offset(30085), Ok(85));
        assert_eq!(
            p.offset(8444).unwrap_err().to_string(),
            "provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
        assert_eq!(p.to_string(), "30000-32767");
        for bad in ["", "1", "5-1", "0-10", "a-b"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
        let big: PortRange = "1-65535".parse().unwrap();
        assert_eq!(big.static_band(), 128);
    }
}
