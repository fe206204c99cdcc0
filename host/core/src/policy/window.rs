//! Local time for policies: the calling window and the plugins' view of a moment.

use chrono::{Datelike, NaiveTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;
use redial_sdk::Moment;
use serde::Deserialize;

/// `calling_window = { start = "08:00", end = "21:00" }`: recipient-local hours in which a
/// callback may ring. The default is 08:00–21:00; `end = "24:00"` runs to midnight, so
/// 00:00–24:00 allows every hour (an emergency line).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CallingWindow {
    /// `start`: first allowed minute, "HH:MM".
    pub start: String,
    /// `end`: first minute no longer allowed, "HH:MM", or "24:00" for midnight.
    pub end: String,
}

impl Default for CallingWindow {
    fn default() -> Self {
        CallingWindow {
            start: "08:00".into(),
            end: "21:00".into(),
        }
    }
}

fn minutes(hhmm: &str) -> Result<u32, String> {
    if hhmm == "24:00" {
        return Ok(24 * 60);
    }
    let t =
        NaiveTime::parse_from_str(hhmm, "%H:%M").map_err(|_| format!("{hhmm:?} is not HH:MM"))?;
    Ok(t.hour() * 60 + t.minute())
}

impl CallingWindow {
    /// Checks the times parse and the window is non-empty.
    pub fn check(&self) -> Result<(), String> {
        let (s, e) = (minutes(&self.start)?, minutes(&self.end)?);
        if s >= e {
            return Err(format!(
                "start {} is not before end {}",
                self.start, self.end
            ));
        }
        Ok(())
    }

    fn bounds(&self) -> (u32, u32) {
        (
            minutes(&self.start).unwrap_or(8 * 60),
            minutes(&self.end).unwrap_or(21 * 60),
        )
    }

    /// Whether the local minute of `at_ms` in `tz` is inside the window.
    fn inside(&self, tz: Tz, at_ms: i64) -> bool {
        let (start, end) = self.bounds();
        let minute = u32::from(LocalClock(tz).moment(at_ms).local_minute);
        minute >= start && minute < end
    }

    /// The earliest unix ms at or after `at_ms` that falls inside the window in `tz`.
    /// A window opening inside a DST gap opens at the first minute after the gap; a window
    /// lying wholly inside the gap is skipped to the next day.
    pub fn next_allowed(&self, tz: Tz, at_ms: i64) -> i64 {
        if self.inside(tz, at_ms) {
            return at_ms;
        }
        let (start, end) = self.bounds();
        let local = LocalClock(tz).moment(at_ms);
        let today = tz
            .timestamp_millis_opt(at_ms)
            .earliest()
            .expect("a unix instant maps to a local time")
            .date_naive();
        let mut day = if u32::from(local.local_minute) >= end {
            today.succ_opt().unwrap()
        } else {
            today
        };
        for _ in 0..4 {
            let open = day.and_hms_opt(start / 60, start % 60, 0).unwrap();
            let opened = (0..=180).find_map(|m| {
                tz.from_local_datetime(&(open + chrono::Duration::minutes(m)))
                    .earliest()
            });
            if let Some(opened) = opened {
                let ms = opened.timestamp_millis().max(at_ms);
                if self.inside(tz, ms) {
                    return ms;
                }
            }
            day = day.succ_opt().unwrap();
        }
        unreachable!("a window of at least one minute opens within four days")
    }

    /// Whether `at_ms` is inside the window in `tz`.
    pub fn allows(&self, tz: Tz, at_ms: i64) -> bool {
        self.inside(tz, at_ms)
    }
}

/// Turns unix time into the plugins' [`Moment`] for a zone.
#[derive(Debug, Clone, Copy)]
pub struct LocalClock(pub Tz);

impl LocalClock {
    /// The moment `unix_ms` as seen in this zone.
    pub fn moment(&self, unix_ms: i64) -> Moment {
        let local = self
            .0
            .timestamp_millis_opt(unix_ms)
            .single()
            .unwrap_or_else(|| {
                self.0
                    .timestamp_millis_opt(unix_ms)
                    .earliest()
                    .expect("a unix instant maps to a local time")
            });
        Moment {
            unix_ms,
            utc_offset_minutes: local.offset().fix().local_minus_utc() / 60,
            local_weekday: local.weekday().num_days_from_monday() as u8,
            local_minute: (local.hour() * 60 + local.minute()) as u16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NY: Tz = chrono_tz::America::New_York;

    fn ms(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn a_call_at_23_00_moves_to_next_morning() {
        let w = CallingWindow::default();
        let at = ms("2026-11-25T23:00:00-05:00");
        assert_eq!(w.next_allowed(NY, at), ms("2026-11-26T08:00:00-05:00"));
    }

    #[test]
    fn an_early_call_waits_for_opening_the_same_day() {
        let w = CallingWindow::default();
        assert_eq!(
            w.next_allowed(NY, ms("2026-11-25T06:30:00-05:00")),
            ms("2026-11-25T08:00:00-05:00")
        );
        let inside = ms("2026-11-25T12:00:00-05:00");
        assert_eq!(w.next_allowed(NY, inside), inside);
    }

    #[test]
    fn a_window_to_24_00_allows_every_minute_of_the_day() {
        let w = CallingWindow {
            start: "00:00".into(),
            end: "24:00".into(),
        };
        assert_eq!(w.check(), Ok(()));
        for at in ["2026-11-25T00:00:00-05:00", "2026-11-25T23:59:30-05:00"] {
            assert_eq!(w.next_allowed(NY, ms(at)), ms(at), "{at}");
        }
        let evening = CallingWindow {
            start: "18:00".into(),
            end: "24:00".into(),
        };
        assert_eq!(
            evening.next_allowed(NY, ms("2026-11-25T12:00:00-05:00")),
            ms("2026-11-25T18:00:00-05:00")
        );
        let late_start = CallingWindow {
            start: "24:00".into(),
            end: "24:00".into(),
        };
        assert!(late_start.check().is_err());
    }

    #[test]
    fn moments_carry_offset_weekday_and_minute() {
        let m = LocalClock(NY).moment(ms("2026-11-25T13:05:00-05:00"));
        assert_eq!(
            (m.utc_offset_minutes, m.local_weekday, m.local_minute),
            (-300, 2, 13 * 60 + 5)
        );
    }
}
