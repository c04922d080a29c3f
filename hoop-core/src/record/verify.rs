//! Checking a recording: hash chain, sequence, checkpoint and seal signatures.

use super::format::{Hash, recompute};
use super::{Body, Control, StoredEvent, signed_message};
use crate::keys::VerifyingKey;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The result of verifying one recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records that verified, in order, before the first problem.
    pub records: u64,
    /// The first broken or missing record: `(line, what is wrong)`; `None` when intact.
    pub first_error: Option<(u64, String)>,
    /// Whether the recording ends with a valid seal (it was closed and nothing was cut off).
    pub sealed: bool,
    /// Sequence number of the last valid signed checkpoint or seal.
    pub last_signed: u64,
    /// The recording was closed at a restart after the gateway stopped without closing it.
    #[serde(default)]
    pub crash_ended: bool,
}

impl VerifyReport {
    /// Intact and sealed.
    pub fn is_ok(&self) -> bool {
        self.first_error.is_none() && self.sealed
    }
}

/// Verifies the stored bytes of session `session`.
pub(crate) fn verify_bytes(session: &str, bytes: &[u8], keys: &[VerifyingKey]) -> VerifyReport {
    let mut report = VerifyReport { records: 0, first_error: None, sealed: false, last_signed: 0, crash_ended: false };
    let mut prev = Hash::ZERO.as_str().to_string();
    let mut lines = bytes.split(|b| *b == b'\n').peekable();
    let mut n = 0u64;
    while let Some(line) = lines.next() {
        if line.is_empty() && lines.peek().is_none() {
            break;
        }
        n += 1;
        let fail = |msg: String| Some((n, msg));
        if report.sealed {
            report.first_error = fail("record after the seal".into());
            report.sealed = false;
            break;
        }
        let Ok(ev) = serde_json::from_slice::<StoredEvent>(line) else {
            report.first_error = fail("unreadable record (edited or truncated)".into());
            break;
        };
        if ev.seq != n {
            report.first_error = fail(format!("sequence {} where {} was expected (record missing or reordered)", ev.seq, n));
            break;
        }
        if ev.prev != prev {
            report.first_error = fail("previous-hash does not match (record missing, edited or reordered)".into());
            break;
        }
        if recompute(line).as_deref() != Some(ev.hash.as_str()) {
            report.first_error = fail("hash does not match the record's bytes (edited)".into());
            break;
        }
        if let Body::Control(c) = &ev.body {
            let (kind, kid, sig) = match c {
                Control::Checkpoint { kid, sig } => ("checkpoint", kid, sig),
                Control::Seal { kid, sig } => ("seal", kid, sig),
                Control::CrashSeal { kid, sig } => ("crash-seal", kid, sig),
            };
            let msg = signed_message(kind, session, ev.seq, &ev.prev);
            let sig = base64::engine::general_purpose::STANDARD.decode(sig).unwrap_or_default();
            let valid = keys.iter().any(|k| &k.kid == kid && k.verify(&msg, &sig));
            if !valid {
                report.first_error = fail(format!("{kind} signature does not verify"));
                break;
            }
            if kind == "crash-seal" {
                report.crash_ended = true;
            } else {
                report.last_signed = ev.seq;
            }
            if kind != "checkpoint" {
                report.sealed = true;
            }
        }
        prev = ev.hash;
        report.records = n;
    }
    report
}
