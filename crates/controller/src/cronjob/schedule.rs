//! Standard cron schedules, as upstream reads `spec.schedule` (robfig/cron's
//! `ParseStandard`): five fields (minute, hour, day of month, month, day of
//! week) of `*`, `?`, numbers, names (`JAN`, `MON`), ranges, lists and steps,
//! or a descriptor (`@hourly`, `@daily`, ...). When both day fields are
//! restricted a day matching either runs (cron's historic OR); when one is
//! `*`, both must match. `@every` is not supported.
//!
//! A small parser rather than a crate: the crates that exist either add a
//! seconds field or differ from robfig in the day rule, and the whole
//! grammar fits on a page.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// One parsed schedule: a bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    /// Whether a day field was `*` (or `?`), which changes the day rule.
    dom_star: bool,
    dow_star: bool,
}

/// Why a schedule does not parse, in robfig/cron's words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

struct Field {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field { min: 0, max: 59, names: &[] };
const HOUR: Field = Field { min: 0, max: 23, names: &[] };
const DOM: Field = Field { min: 1, max: 31, names: &[] };
const MONTH: Field = Field {
    min: 1,
    max: 12,
    names: &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
};
const DOW: Field = Field { min: 0, max: 6, names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"] };

fn err(message: String) -> ScheduleError {
    ScheduleError(message)
}

/// A number or, for months and weekdays, a name.
fn value(text: &str, field: &Field) -> Result<u32, ScheduleError> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = field.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + field.min);
    }
    text.parse().map_err(|e| err(format!("failed to parse int from {text}: {e}")))
}

/// One comma-separated part: `*`, `a`, `a-b`, with an optional `/step`;
/// its bits and whether it was a plain star.
fn range(expr: &str, field: &Field) -> Result<(u64, bool), ScheduleError> {
    let (range, step) = match expr.split('/').collect::<Vec<_>>()[..] {
        [r] => (r, None),
        [r, s] => (r, Some(s)),
        _ => return Err(err(format!("too many slashes: {expr}"))),
    };
    let (mut start, mut end, mut star) = (field.min, field.max, false);
    let bounds: Vec<&str> = range.split('-').collect();
    match bounds[..] {
        ["*" | "?"] => star = true,
        [a] => {
            start = value(a, field)?;
            end = start;
        }
        [a, b] => {
            start = value(a, field)?;
            end = value(b, field)?;
        }
        _ => return Err(err(format!("too many hyphens: {expr}"))),
    }
    let step = match step {
        None => 1,
        Some(s) => {
            let n = value(s, &Field { names: &[], ..*field })?;
            // `N/step` means `N-max/step`.
            if bounds.len() == 1 && !star {
                end = field.max;
            }
            if n > 1 {
                star = false;
            }
            n
        }
    };
    if start < field.min {
        return Err(err(format!("beginning of range ({start}) below minimum ({}): {expr}", field.min)));
    }
    if end > field.max {
        return Err(err(format!("end of range ({end}) above maximum ({}): {expr}", field.max)));
    }
    if start > end {
        return Err(err(format!("beginning of range ({start}) beyond end of range ({end}): {expr}")));
    }
    if step == 0 {
        return Err(err(format!("step of range should be a positive number: {expr}")));
    }
    let bits = (start..=end).step_by(step as usize).fold(0u64, |b, v| b | 1 << v);
    Ok((bits, star))
}

fn field(text: &str, f: &Field) -> Result<(u64, bool), ScheduleError> {
    text.split(',').try_fold((0, false), |(bits, star), part| {
        let (b, s) = range(part, f)?;
        Ok((bits | b, star || s))
    })
}

impl std::str::FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(spec: &str) -> Result<Self, ScheduleError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(err("empty spec string".into()));
        }
        let spec = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => return Err(err(format!("unrecognized descriptor: {s}"))),
            s => s,
        };
        let fields: Vec<&str> = spec.split_whitespace().collect();
        let [m, h, dom, mon, dow] = fields[..] else {
            return Err(err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" "))));
        };
        let (dom, dom_star) = field(dom, &DOM)?;
        let (dow, dow_star) = field(dow, &DOW)?;
        Ok(Schedule {
            minute: field(m, &MINUTE)?.0,
            hour: field(h, &HOUR)?.0,
            dom,
            month: field(mon, &MONTH)?.0,
            dow,
            dom_star,
            dow_star,
        })
    }
}

impl Schedule {
    fn day_matches(&self, dt: DateTime) -> bool {
        let dom = self.dom & (1 << dt.day()) != 0;
        let dow = self.dow & (1 << dt.weekday().to_sunday_zero_offset()) != 0;
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first time after `t` (strictly) that the schedule fires, read in
    /// `tz`; none within five years (`0 0 30 2 *`: never).
    pub fn next_after(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = t.to_zoned(tz.clone()).datetime();
        let mut dt = start.with().second(0).subsec_nanosecond(0).build().ok()?.checked_add(1.minute()).ok()?;
        let limit = start.year() + 5;
        while dt.year() <= limit {
            if self.month & (1 << dt.month()) == 0 {
                dt = dt.first_of_month().checked_add(1.month()).ok()?.with().hour(0).minute(0).build().ok()?;
            } else if !self.day_matches(dt) {
                dt = dt.date().checked_add(1.day()).ok()?.to_datetime(jiff::civil::Time::midnight());
            } else if self.hour & (1 << dt.hour()) == 0 {
                dt = dt.with().minute(0).build().ok()?.checked_add(1.hour()).ok()?;
            } else if self.minute & (1 << dt.minute()) == 0 {
                dt = dt.checked_add(1.minute()).ok()?;
            } else {
                return Some(dt.to_zoned(tz.clone()).ok()?.timestamp());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn next_times() {
        let utc = TimeZone::UTC;
        let table = [
            ("*/1 * * * *", "2026-12-02T10:00:30Z", "2026-12-02T10:01:00Z"),
            ("*/15 * * * *", "2026-12-02T10:01:00Z", "2026-12-02T10:15:00Z"),
            ("5 4 * * *", "2026-12-02T10:00:00Z", "2026-12-03T04:05:00Z"),
            ("@hourly", "2026-12-02T10:00:00Z", "2026-12-02T11:00:00Z"),
            ("@daily", "2026-12-02T10:00:00Z", "2026-12-03T00:00:00Z"),
            ("@weekly", "2026-12-02T10:00:00Z", "2026-12-06T00:00:00Z"),
            ("@monthly", "2026-12-02T10:00:00Z", "2027-01-01T00:00:00Z"),
            ("@yearly", "2026-12-02T10:00:00Z", "2027-01-01T00:00:00Z"),
            ("0 9 * * MON-FRI", "2026-12-04T09:00:00Z", "2026-12-07T09:00:00Z"),
            ("30 2 1,15 * *", "2026-12-02T00:00:00Z", "2026-12-15T02:30:00Z"),
            ("0 0 29 2 *", "2026-12-02T00:00:00Z", "2028-02-29T00:00:00Z"),
            ("0 0 13 * 5", "2026-12-02T00:00:00Z", "2026-12-04T00:00:00Z"),
            ("0 0 * JUN ?", "2026-12-02T00:00:00Z", "2027-06-01T00:00:00Z"),
            ("10-20/5 * * * *", "2026-12-02T10:16:00Z", "2026-12-02T10:20:00Z"),
            ("50/5 * * * *", "2026-12-02T10:56:00Z", "2026-12-02T11:50:00Z"),
        ];
        for (spec, from, want) in table {
            let s: Schedule = spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(s.next_after(at(from), &utc), Some(at(want)), "{spec} after {from}");
        }
        let never: Schedule = "0 0 30 2 *".parse().unwrap();
        assert_eq!(never.next_after(at("2026-12-02T00:00:00Z"), &utc), None);
    }

    #[test]
    fn in_a_time_zone() {
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        let s: Schedule = "0 9 * * *".parse().unwrap();
        assert_eq!(s.next_after(at("2026-12-02T00:00:00Z"), &shanghai), Some(at("2026-12-02T01:00:00Z")));
    }

    #[test]
    fn bad_schedules_say_why() {
        let table = [
            ("", "empty spec string"),
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            ("@every 5m", "unrecognized descriptor: @every 5m"),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
            ("*/0 * * * *", "step of range should be a positive number: */0"),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("x * * * *", "failed to parse int from x: invalid digit found in string"),
            ("* * * FOO *", "failed to parse int from FOO: invalid digit found in string"),
        ];
        for (spec, want) in table {
            assert_eq!(spec.parse::<Schedule>().unwrap_err().to_string(), want, "{spec:?}");
        }
    }
}
