//! What the suite counts: what it did (so a run shows it really exercised each fault), and the
//! invariants, each of which must be 0.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::faults::CrashPoint;
use super::trace::CLASSES;

/// Activity and invariant counters; summed over rounds.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub rounds: BTreeMap<String, u64>,
    pub faults: BTreeMap<&'static str, u64>,
    pub patches: u64,
    pub deliveries: u64,
    pub duplicate_deliveries: u64,
    pub deliveries_answered_duplicate: u64,
    pub deliveries_retried_by_vendor: u64,
    pub sync_messages: u64,
    pub sync_messages_failed: u64,
    pub sync_messages_processed_twice: u64,
    pub sync_dead_letters_redriven: u64,
    pub writes: u64,
    pub charges: u64,
    pub duplicate_submits: u64,
    pub duplicate_messages: u64,
    pub concurrent_deliveries: u64,
    pub write_messages: u64,
    pub crashes: BTreeMap<CrashPoint, u64>,
    pub crashes_not_reached: u64,
    pub writes_dead_lettered: u64,
    pub writes_redriven: u64,
    pub orphan_dead_letters: u64,
    pub duplicate_notes: u64,
    pub partner_pushes: u64,
    pub partner_replays: u64,
    pub partner_crashes: u64,
    pub lease_fast_forwards: u64,
    pub vendor_injected_errors: u64,
    pub vendor_injected_timeouts: u64,
    pub vendor_storm_rejections: u64,
    pub vendor_unauthorized: u64,
    pub vendor_calls: u64,
    pub record_writes: u64,
    pub sync_runs: u64,
    pub sync_failed_records: u64,
    /// Rounds that exercised each class across attempts (and sub-sequence), by name.
    pub classes: BTreeMap<&'static str, u64>,
    pub phase_switches: u64,
    pub redeliveries: u64,
    pub writer_kills: u64,
    pub ops_actions: BTreeMap<&'static str, u64>,
    pub redrives_refused: u64,
    pub abandoned: u64,
    pub aging_steps: u64,
    /// Queue messages dropped by the queues' retention while records aged.
    pub queue_copies_expired: u64,
    // ---- invariants: each must be 0 ----
    pub double_charges: u64,
    /// Succeeded charges the vendor does not have, and charges the vendor has that we report as
    /// not done.
    pub unrecorded_charges: u64,
    pub lost_updates: u64,
    pub state_regressions: u64,
    pub rate_limit_violations: u64,
    pub unconverged: u64,
    /// Writes not succeeded, or messages left on a queue, after the round settled.
    pub unsettled: u64,
    /// Operations delivered more than [`super::checks::MAX_DELIVERIES`] times in a round: a
    /// write cycling through the queue (deliveries not counted as attempts, or copies
    /// multiplying), even one that settles in the end.
    pub churned: u64,
    /// Charges on the folio yet dead-lettered, though every delivery of them could look.
    pub on_folio_dead_letters: u64,
    /// A partner that saw another partner's operation, or was refused for its key.
    pub partner_leaks: u64,
    /// Writes in the write queue's DLQ that `pmsctl dlq list` does not list.
    pub unlisted_dead_letters: u64,
    // ---- partner subscriptions (`super::subscribers`) ----
    pub subscription_events: u64,
    pub subscription_requests: u64,
    pub subscription_refused_passes: u64,
    pub subscription_bad_answers: u64,
    pub subscription_slow_answers: u64,
    pub subscription_duplicate_events: u64,
    /// Invariants: events the receiver never got; entities whose newest version it never got;
    /// deliveries not delivered when the round ended; accepted deliveries that do not verify.
    pub subscription_events_lost: u64,
    pub subscription_order_broken: u64,
    pub subscription_undelivered: u64,
    pub subscription_bad_signatures: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        for (k, v) in &o.rounds {
            *self.rounds.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.faults {
            *self.faults.entry(k).or_default() += v;
        }
        for (k, v) in &o.crashes {
            *self.crashes.entry(*k).or_default() += v;
        }
        for (k, v) in &o.classes {
            *self.classes.entry(k).or_default() += v;
        }
        for (k, v) in &o.ops_actions {
            *self.ops_actions.entry(k).or_default() += v;
        }
        macro_rules! sum {
            ($($f:ident),*) => { $( self.$f += o.$f; )* };
        }
        sum!(
            patches,
            deliveries,
            duplicate_deliveries,
            deliveries_answered_duplicate,
            deliveries_retried_by_vendor,
            sync_messages,
            sync_messages_failed,
            sync_messages_processed_twice,
            sync_dead_letters_redriven,
            writes,
            charges,
            duplicate_submits,
            duplicate_messages,
            concurrent_deliveries,
            write_messages,
            crashes_not_reached,
            writes_dead_lettered,
            writes_redriven,
            orphan_dead_letters,
            duplicate_notes,
            partner_pushes,
            partner_replays,
            partner_crashes,
            lease_fast_forwards,
            vendor_injected_errors,
            vendor_injected_timeouts,
            vendor_storm_rejections,
            vendor_unauthorized,
            vendor_calls,
            record_writes,
            sync_runs,
            sync_failed_records,
            phase_switches,
            redeliveries,
            writer_kills,
            redrives_refused,
            abandoned,
            aging_steps,
            queue_copies_expired,
            on_folio_dead_letters,
            partner_leaks,
            unlisted_dead_letters,
            double_charges,
            unrecorded_charges,
            lost_updates,
            state_regressions,
            rate_limit_violations,
            unconverged,
            unsettled,
            churned,
            subscription_events,
            subscription_requests,
            subscription_refused_passes,
            subscription_bad_answers,
            subscription_slow_answers,
            subscription_duplicate_events,
            subscription_events_lost,
            subscription_order_broken,
            subscription_undelivered,
            subscription_bad_signatures
        );
    }

    /// The invariants, by name.
    pub fn invariants(&self) -> [(&'static str, u64); 15] {
        [
            ("double charges", self.double_charges),
            ("unrecorded charges", self.unrecorded_charges),
            (
                "charges on the folio dead-lettered",
                self.on_folio_dead_letters,
            ),
            ("partner isolation breaches", self.partner_leaks),
            ("dead letters not listed", self.unlisted_dead_letters),
            ("lost updates", self.lost_updates),
            ("state regressions", self.state_regressions),
            ("rate-limit violations", self.rate_limit_violations),
            ("syncs not converged", self.unconverged),
            ("rounds not settled", self.unsettled),
            ("writes cycling (>100 deliveries)", self.churned),
            ("subscription events lost", self.subscription_events_lost),
            (
                "subscription newest version missed",
                self.subscription_order_broken,
            ),
            (
                "subscription deliveries undelivered",
                self.subscription_undelivered,
            ),
            (
                "subscription signatures not verifying",
                self.subscription_bad_signatures,
            ),
        ]
    }

    pub fn ok(&self) -> bool {
        self.invariants().iter().all(|(_, n)| *n == 0)
    }

    pub fn render(&self, wall: Duration) -> String {
        let mut s = String::new();
        let rounds: Vec<String> = self
            .rounds
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "rounds: {}", rounds.join(", "));
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "vendor faults by round: {}", faults.join(", "));
        let _ = writeln!(
            s,
            "vendor: {} calls, {} injected 5xx, {} injected timeouts, {} storm 429s, {} 401s (expired tokens)",
            self.vendor_calls,
            self.vendor_injected_errors,
            self.vendor_injected_timeouts,
            self.vendor_storm_rejections,
            self.vendor_unauthorized
        );
        let _ = writeln!(
            s,
            "webhooks: {} changes at the PMS, {} deliveries ({} duplicates, {} answered as duplicates, {} re-sent after a failed delivery)",
            self.patches,
            self.deliveries,
            self.duplicate_deliveries,
            self.deliveries_answered_duplicate,
            self.deliveries_retried_by_vendor
        );
        let _ = writeln!(
            s,
            "partner pushes: {} merged, {} answered from the Idempotency-Key record, {} died before storing their answer",
            self.partner_pushes, self.partner_replays, self.partner_crashes
        );
        let _ = writeln!(
            s,
            "sync queue: {} messages handled ({} failed and came back, {} handled twice at once, {} redriven from the DLQ)",
            self.sync_messages,
            self.sync_messages_failed,
            self.sync_messages_processed_twice,
            self.sync_dead_letters_redriven
        );
        let _ = writeln!(
            s,
            "writes: {} operations ({} charges), {} duplicate submissions, {} duplicate messages, {} deliveries run twice at once, {} write messages handled",
            self.writes,
            self.charges,
            self.duplicate_submits,
            self.duplicate_messages,
            self.concurrent_deliveries,
            self.write_messages
        );
        let crashes: Vec<String> = self
            .crashes
            .iter()
            .map(|(k, v)| format!("{} {v}", k.name()))
            .collect();
        let _ = writeln!(
            s,
            "crashes: {} ({} armed but not reached); lease lapses fast-forwarded {}",
            crashes.join(", "),
            self.crashes_not_reached,
            self.lease_fast_forwards
        );
        let _ = writeln!(
            s,
            "dead letters: {} writes dead-lettered, {} redriven, {} only in the queue's DLQ (moved back); {} duplicate notes (notes are at-least-once)",
            self.writes_dead_lettered,
            self.writes_redriven,
            self.orphan_dead_letters,
            self.duplicate_notes
        );
        let _ = writeln!(
            s,
            "convergence: {} sync runs of the reservations delta ({} records failed and were refreshed on their own); record writes applied: {}",
            self.sync_runs, self.sync_failed_records, self.record_writes
        );
        let ops: Vec<String> = self
            .ops_actions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            s,
            "across attempts: {} fault phases switched, {} redeliveries in lane time, {} writer invocations killed at their deadline; ops before settling: {} ({} abandoned, {} redrives refused); records aged {} times ({} queue copies expired)",
            self.phase_switches,
            self.redeliveries,
            self.writer_kills,
            if ops.is_empty() { "none".to_owned() } else { ops.join(", ") },
            self.abandoned,
            self.redrives_refused,
            self.aging_steps,
            self.queue_copies_expired
        );
        let _ = writeln!(
            s,
            "partner subscriptions: {} events, {} requests to receivers ({} passes refused, {} 5xx/429 answers, {} answers after the timeout), {} events handed over twice",
            self.subscription_events,
            self.subscription_requests,
            self.subscription_refused_passes,
            self.subscription_bad_answers,
            self.subscription_slow_answers,
            self.subscription_duplicate_events
        );
        let _ = writeln!(s, "rounds exercising each class across attempts and ops:");
        for name in CLASSES {
            let n = self.classes.get(name).copied().unwrap_or(0);
            let _ = writeln!(s, "  {name:<82} {n}");
        }
        let _ = writeln!(s, "INVARIANTS (each must be 0):");
        for (name, n) in self.invariants() {
            let _ = writeln!(
                s,
                "  {name:<36} {n}{}",
                if n == 0 { "" } else { "   <-- FAILED" }
            );
        }
        let _ = writeln!(s, "wall time: {:.1} s", wall.as_secs_f64());
        s
    }
}
