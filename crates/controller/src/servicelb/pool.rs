//! The address pool, from `--lb-pool`: ranges and CIDRs of IPv4
//! addresses, as MetalLB's `IPAddressPool.spec.addresses` spells them
//! (`172.28.0.200-172.28.0.250`, `192.168.10.0/28`), comma-separated.
//! Every address of a CIDR is usable (MetalLB without `avoidBuggyIPs`).

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// The addresses the controller may hand out, in ascending order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pool {
    /// Sorted, non-overlapping, inclusive ranges of addresses as numbers.
    ranges: Vec<RangeInclusive<u32>>,
}

impl Pool {
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        self.ranges.iter().any(|r| r.contains(&n))
    }

    /// Every address, lowest first: the allocator hands out the lowest free one.
    pub fn iter(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.ranges.iter().flat_map(|r| r.clone().map(Ipv4Addr::from))
    }

    pub fn len(&self) -> usize {
        self.ranges.iter().map(|r| (r.end() - r.start()) as usize + 1).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

impl FromStr for Pool {
    type Err = String;

    fn from_str(s: &str) -> Result<Pool, String> {
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            ranges.push(parse_one(part)?);
        }
        ranges.sort_by_key(|r| *r.start());
        // Overlaps would list an address twice: merge them.
        let mut merged: Vec<RangeInclusive<u32>> = Vec::new();
        for r in ranges {
            match merged.last_mut() {
                Some(last) if *r.start() <= last.end().saturating_add(1) => {
                    *last = *last.start()..=(*last.end()).max(*r.end());
                }
                _ => merged.push(r),
            }
        }
        Ok(Pool { ranges: merged })
    }
}

fn parse_one(part: &str) -> Result<RangeInclusive<u32>, String> {
    let addr =
        |s: &str| s.trim().parse::<Ipv4Addr>().map_err(|_| format!("invalid IPv4 address {s:?} in pool {part:?}"));
    if let Some((first, last)) = part.split_once('-') {
        let (first, last) = (u32::from(addr(first)?), u32::from(addr(last)?));
        if first > last {
            return Err(format!("invalid range {part:?}: the first address is after the last"));
        }
        return Ok(first..=last);
    }
    let net: ipnet::Ipv4Net = part.parse().map_err(|_| format!("invalid pool {part:?}: want a CIDR or first-last"))?;
    Ok(u32::from(net.network())..=u32::from(net.broadcast()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool's size, first and last address; or the error.
    type Want = Result<(usize, &'static str, &'static str), &'static str>;

    #[test]
    fn ranges_and_cidrs() {
        let cases: [(&str, Want); 7] = [
            ("172.28.0.200-172.28.0.250", Ok((51, "172.28.0.200", "172.28.0.250"))),
            ("10.0.0.0/30", Ok((4, "10.0.0.0", "10.0.0.3"))),
            ("10.0.0.9/32, 10.0.0.1-10.0.0.2", Ok((3, "10.0.0.1", "10.0.0.9"))),
            // Overlapping parts count each address once.
            ("10.0.0.0/30,10.0.0.2-10.0.0.5", Ok((6, "10.0.0.0", "10.0.0.5"))),
            ("10.0.0.5-10.0.0.1", Err("invalid range \"10.0.0.5-10.0.0.1\": the first address is after the last")),
            ("10.0.0.x-10.0.0.2", Err("invalid IPv4 address \"10.0.0.x\" in pool \"10.0.0.x-10.0.0.2\"")),
            ("fd00::/120", Err("invalid pool \"fd00::/120\": want a CIDR or first-last")),
        ];
        for (input, want) in cases {
            let got = input.parse::<Pool>().map(|p| {
                let all: Vec<Ipv4Addr> = p.iter().collect();
                (p.len(), all[0].to_string(), all[all.len() - 1].to_string())
            });
            let want = want.map(|(n, a, b)| (n, a.to_string(), b.to_string())).map_err(str::to_string);
            assert_eq!(got, want, "{input}");
        }
        let pool: Pool = "10.0.0.1-10.0.0.2".parse().unwrap();
        assert!(pool.contains("10.0.0.2".parse().unwrap()));
        assert!(!pool.contains("10.0.0.3".parse().unwrap()));
    }
}
