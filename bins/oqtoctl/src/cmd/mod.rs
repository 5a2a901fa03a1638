//! One module per subcommand, and the little formatting they share.

pub mod approve;
pub mod attach;
pub mod audit;
pub mod completions;
pub mod doctor;
mod doctor_relay;
pub mod history;
pub mod password;
pub mod prompt;
pub mod relay;
pub mod runner;
pub mod sessions;
pub mod shell;
pub mod terminals;
pub mod token;
pub mod web;

use std::io::{self, Write};
use std::time::Duration;

use oqto_protocol::Millis;
use serde::Serialize;

pub use oqto_config::format_duration;

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    oqto_protocol::now_millis()
}

/// One JSON object on its own line.
pub fn json_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// `12s ago`, `5m ago`, `3h ago`, `2d ago`.
pub fn ago(now: Millis, then: Millis) -> String {
    let secs = now.saturating_sub(then) / 1000;
    let text = match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    };
    format!("{text} ago")
}

/// Columns padded to their widest cell (the last one is not padded).
pub fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain(std::iter::once(header[i].len()))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let last = header.len() - 1;
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        text
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    out.flush()
}

/// A duration for messages: `90s`, `10m`.
pub fn human_duration(d: Duration) -> String {
    format_duration(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ago_picks_the_largest_unit() {
        assert_eq!(ago(10_000, 10_000), "0s ago");
        assert_eq!(ago(100_000, 10_000), "1m ago");
        assert_eq!(ago(7_300_000, 0), "2h ago");
        assert_eq!(ago(3 * 86_400_000, 0), "3d ago");
        assert_eq!(ago(0, 5_000), "0s ago");
    }

    #[test]
    fn table_pads_all_but_the_last_column() {
        let mut out = Vec::new();
        table(
            &mut out,
            &["A", "BB", "C"],
            &[vec!["xxx".into(), "y".into(), "z z".into()]],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "A    BB  C\nxxx  y   z z\n"
        );
    }
}
