//! Durations as written in the files: Go's forms (`10s`, `1m30s`, `1.5h`, `500ms`) first, then
//! humantime's longer forms (`2 minutes`, `1h 30m`), and a bare `0`.

use std::time::Duration;

const HINT: &str = "write a number with a unit, e.g. 10s, 1m30s, 500ms or 2h";

/// Parses a duration; the error says what is wrong and how to write it.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err(format!("empty duration; {HINT}"));
    }
    if s.starts_with('-') {
        return Err(format!("negative duration \"{s}\" is not allowed"));
    }
    let unsigned = s.strip_prefix('+').unwrap_or(s);
    if unsigned.chars().all(|c| c.is_ascii_digit() || c == '.') {
        // A bare number: only zero is unambiguous.
        if unsigned.parse::<f64>().is_ok_and(|v| v == 0.0) {
            return Ok(Duration::ZERO);
        }
        return Err(format!(
            "duration \"{s}\" has no unit; did you mean \"{unsigned}s\"?"
        ));
    }
    if let Some(d) = parse_go(unsigned) {
        return Ok(d);
    }
    humantime::parse_duration(unsigned).map_err(|_| format!("invalid duration \"{s}\"; {HINT}"))
}

/// Go's `time.ParseDuration` grammar: one or more `<decimal><unit>`, units ns us µs ms s m h.
fn parse_go(s: &str) -> Option<Duration> {
    let mut rest = s;
    let mut total_nanos: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total_nanos += number * scale;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total_nanos.round() as u64))
}

/// Formats a duration the way the files write it (`1m30s`, `500ms`, `0s`).
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_string();
    }
    let total_ms = d.as_millis();
    if d.as_secs() == 0 {
        return if d.subsec_nanos().is_multiple_of(1_000_000) {
            format!("{total_ms}ms")
        } else {
            format!("{}ns", d.as_nanos())
        };
    }
    let mut out = String::new();
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let ms = d.subsec_millis();
    if ms > 0 {
        out.push_str(&format!("{s}.{ms:03}s"));
    } else if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_forms() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("300s"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2h45m"), Ok(Duration::from_secs(9900)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn humantime_forms() {
        assert_eq!(parse_duration("2 minutes"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
    }

    #[test]
    fn rejects_bad_input() {
        let e = parse_duration("30").unwrap_err();
        assert!(e.contains("no unit") && e.contains("30s"), "{e}");
        assert!(
            parse_duration("abc")
                .unwrap_err()
                .contains("invalid duration")
        );
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10x").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.500s");
    }
}
