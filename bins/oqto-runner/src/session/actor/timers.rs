//! The session's timers: ready and silence timeouts, the idle grace period, idle reaping.

use oqto_protocol::{ErrorCode, Phase, State};
use tokio::time::Instant;

use super::{Actor, PUMP, QUIET};
use crate::context::now_millis;
use crate::harness::adapter::{OpError, Token};

impl Actor {
    /// Working, and not waiting for a person: an agent waiting for a permission reply is
    /// silent on purpose.
    fn watched_for_silence(&self) -> bool {
        self.info.state == State::Working && self.info.phase != Some(Phase::AwaitingPermission)
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let now = Instant::now();
        if self.fail_reason.is_some() {
            return Some(now);
        }
        let mut next: Option<Instant> = None;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        if self.hub.has_pending() {
            consider(Some(now + PUMP));
        }
        if let Some(h) = &self.harness {
            if h.unquiet {
                consider(Some(h.last_line + QUIET));
            }
            if !h.ready {
                consider(Some(h.started + self.ctx.config.timeouts.ready));
            }
            if self.watched_for_silence() {
                consider(
                    self.ctx
                        .config
                        .timeouts
                        .silence
                        .map(|silence| h.last_line + silence),
                );
            }
        }
        if let (Some(since), Some(idle)) = (self.idle_since, self.ctx.config.timeouts.idle) {
            consider(Some(since + idle));
        }
        for pending in self.pending.values() {
            consider(pending.deadline);
        }
        next
    }

    pub(super) async fn on_timer(&mut self) {
        let now = Instant::now();
        if let Some(reason) = self.fail_reason.take() {
            self.stop_harness().await;
            self.harness_gone(&reason, State::Error).await;
            return;
        }
        if self.hub.has_pending() {
            let needs = self.hub.pump();
            self.send_snapshots(&needs);
        }
        let timeouts = self.ctx.config.timeouts;
        if let Some(h) = &mut self.harness {
            if h.unquiet && now >= h.last_line + QUIET {
                h.unquiet = false;
                let outputs = h.adapter.quiet(now_millis());
                self.apply_stored(outputs).await;
            }
        }
        if let Some(h) = &self.harness {
            if !h.ready && now >= h.started + timeouts.ready {
                let reason = format!(
                    "{} did not become ready within {}",
                    self.info.harness,
                    crate::config::format_duration(timeouts.ready)
                );
                self.stop_harness().await;
                self.harness_gone(&reason, State::Error).await;
                return;
            }
            if let Some(silence) = timeouts.silence {
                if self.watched_for_silence() && now >= h.last_line + silence {
                    let reason = format!(
                        "{} wrote nothing for {} while working; stopped as hung",
                        self.info.harness,
                        crate::config::format_duration(silence)
                    );
                    self.stop_harness().await;
                    self.harness_gone(&reason, State::Error).await;
                    return;
                }
            }
        }
        if let (Some(since), Some(idle)) = (self.idle_since, timeouts.idle) {
            if now >= since + idle {
                self.idle_since = None;
                self.stop_harness().await;
                let reason = format!(
                    "idle for {}; harness stopped",
                    crate::config::format_duration(idle)
                );
                self.set_state(State::Stopped, None, Some(reason));
            }
        }
        let expired: Vec<Token> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline.is_some_and(|d| now >= d))
            .map(|(token, _)| *token)
            .collect();
        for token in expired {
            if let Some(pending) = self.pending.remove(&token) {
                let _ = pending.reply.send(Err(OpError::new(
                    ErrorCode::Timeout,
                    format!(
                        "harness did not answer `{}` within {}",
                        pending.name,
                        crate::config::format_duration(timeouts.ready)
                    ),
                )));
            }
        }
    }
}
