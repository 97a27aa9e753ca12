//! Ages as kubectl prints them: `12s`, `7m44s`, `5d3h`.

/// Renders an age the way upstream's `HumanDuration` does: precise while
/// young, coarser as it grows (`90s`, `5m30s`, `3h10m`, `5d3h`, `400d`, `3y`).
pub fn human_duration(seconds: i64) -> String {
    // A clock a second ahead of ours is "now", not an error.
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    let s = seconds.max(0);
    let (minutes, hours, days) = (s / 60, s / 3600, s / 86400);
    let pair = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    match () {
        _ if s < 120 => format!("{s}s"),
        _ if minutes < 10 => pair(minutes, "m", s % 60, "s"),
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => pair(hours, "h", minutes % 60, "m"),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => pair(days, "d", hours % 24, "h"),
        _ if days < 365 * 2 => format!("{days}d"),
        _ if days < 365 * 8 => pair(days / 365, "y", days % 365, "d"),
        _ => format!("{}y", days / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn ages_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (12, "12s"),
            (119, "119s"),
            (120, "2m"),
            (464, "7m44s"),
            (322, "5m22s"),
            (600, "10m"),
            (3 * 3600 + 600, "3h10m"),
            (10 * 3600, "10h"),
            (5 * 86400 + 3 * 3600, "5d3h"),
            (6 * 86400, "6d"),
            (400 * 86400, "400d"),
            (3 * 365 * 86400, "3y"),
            (3 * 365 * 86400 + 20 * 86400, "3y20d"),
            (10 * 365 * 86400, "10y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }
}
