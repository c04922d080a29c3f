//! How many credentials (tokens, exchanged tokens, SSH certificates) each agent, with the
//! subjects it minted, may have issued in a minute.
//!
//! Each issue is a signature, a log line and a credential that lives until it expires: one
//! agent's client credential minted 6,831 tokens in 10 s and 9,718 SSH certificates in 12 s,
//! some 800 log lines a second (red-team identity round 86). Past the bound the API answers
//! 429 with when to try again; the first refusal of a subject in a minute is logged.

use std::collections::HashMap;
use std::sync::Mutex;

/// Subjects counted at once; past it, the counts of earlier minutes are dropped, and if the
/// current minute alone fills it, a new subject is refused (the map never grows past it).
const MAX_SUBJECTS: usize = 65_536;

/// Per subject, issues in the current minute.
pub struct IssueRate {
    per_minute: u32,
    /// Subject → (minute, issued in it, refused in it).
    counts: Mutex<HashMap<String, (u64, u32, u32)>>,
}

/// Why an issue was refused, and whether this is the subject's first refusal this minute.
pub struct Refused {
    /// The answer's text.
    pub message: String,
    /// Seconds until the next minute.
    pub retry_after: u64,
    /// The first refusal of the subject in this minute (the one worth a log line).
    pub first: bool,
}

impl IssueRate {
    /// At most `per_minute` issues per subject per minute (0: no bound).
    pub fn new(per_minute: u32) -> IssueRate {
        IssueRate { per_minute, counts: Mutex::new(HashMap::new()) }
    }

    /// Counts one issue to `subject` at `now` (Unix seconds), or refuses it.
    pub fn take(&self, subject: &str, now: u64) -> Result<(), Refused> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let minute = now / 60;
        let retry_after = 60 - now % 60;
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if !counts.contains_key(subject) && counts.len() >= MAX_SUBJECTS {
            counts.retain(|_, (m, _, _)| *m == minute);
            if counts.len() >= MAX_SUBJECTS {
                return Err(Refused { message: "hoop: too many subjects are issuing credentials this minute".into(), retry_after, first: false });
            }
        }
        let entry = counts.entry(subject.to_string()).or_insert((minute, 0, 0));
        if entry.0 != minute {
            *entry = (minute, 0, 0);
        }
        if entry.1 >= self.per_minute {
            entry.2 += 1;
            let message = format!(
                "hoop: {subject} (with what it minted) was issued {} credentials this minute, the most limits.issued_per_minute allows; try again in {retry_after} s",
                entry.1
            );
            return Err(Refused { message, retry_after, first: entry.2 == 1 });
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_bounded_per_minute() {
        let r = IssueRate::new(3);
        for _ in 0..3 {
            assert!(r.take("bot", 120).is_ok());
        }
        let refused = r.take("bot", 130).unwrap_err();
        assert!(refused.first && refused.retry_after == 50 && refused.message.contains("limits.issued_per_minute"));
        assert!(!r.take("bot", 131).unwrap_err().first, "one log line a minute");
        assert!(r.take("other", 131).is_ok(), "per subject");
        assert!(r.take("bot", 180).is_ok(), "the next minute");
        assert!(IssueRate::new(0).take("bot", 1).is_ok(), "0: no bound");
    }
}
