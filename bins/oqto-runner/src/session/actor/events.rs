//! Events and state: numbering, storing and fanning out each event, the transcript kept
//! for snapshots, the session record.

use oqto_history::SessionRecord;
use oqto_protocol::{Answerer, EventKind, Message, PendingPermission, Phase, State};
use tokio::time::Instant;

use super::{Actor, Prepared, title_from};
use crate::context::now_millis;
use crate::events::NeedsResync;
use crate::session::transcript::{RECENT_MESSAGES, Transcript};

impl Actor {
    /// Numbers `kind`, applies it to the session's view and fans it out. For events that end
    /// a message (from a harness line), use [`publish_stored`](Self::publish_stored), which
    /// writes the message first; here such a message is written without waiting.
    pub(super) fn publish(&mut self, kind: EventKind) {
        let kind = self.tag(kind);
        let prepared = self.prepare(&kind);
        if let Some(message) = prepared.stored.clone() {
            let seq = prepared.seq;
            self.ctx.store.spawn("storing a message", move |store| {
                store.put_message(&message, Some(seq))
            });
        }
        self.finish(kind, prepared, None);
    }

    /// Like [`publish`](Self::publish), but a message the event ends is committed to the
    /// store before the event goes out (persist as you go: a crash loses at most the message
    /// in flight). The actor does nothing else meanwhile; other sessions go on.
    pub(super) async fn publish_stored(&mut self, kind: EventKind) {
        let kind = self.tag(kind);
        let prepared = self.prepare(&kind);
        let store_error = match prepared.stored.clone() {
            Some(message) => self.store_message(message, prepared.seq).await,
            None => None,
        };
        self.finish(kind, prepared, store_error);
    }

    /// The first half of publishing: the session's view and transcript take the event in.
    pub(super) fn prepare(&mut self, kind: &EventKind) -> Prepared {
        let ts = now_millis();
        let seq = self.hub.log().last_seq() + 1;
        match kind {
            EventKind::State {
                state,
                phase,
                reason,
            } => {
                self.info.state = *state;
                self.info.phase = *phase;
                self.info.reason.clone_from(reason);
            }
            EventKind::ModelChanged { model, .. } => self.info.model = Some(model.clone()),
            EventKind::PermissionRequest {
                request,
                tool,
                options,
            } => self.info.permissions.push(PendingPermission {
                request: request.clone(),
                tool: tool.clone(),
                options: options.clone(),
            }),
            EventKind::PermissionResolved { request, .. } => {
                self.info.permissions.retain(|p| p.request != *request);
            }
            _ => {}
        }
        let session = self.info.id.clone();
        if let Some(entry) = self.audit.entry(&session, kind, ts) {
            self.ctx
                .store
                .spawn("writing an audit entry", move |store| {
                    store.put_audit(&entry).map(drop)
                });
        }
        let stored = self.transcript().apply(&session, kind, ts);
        let title = match kind {
            EventKind::MessageEnd { message } if self.info.title.is_none() => title_from(message),
            _ => None,
        };
        // The session row is written when the state settles or the model changes; the
        // phases of a running turn are not worth a write each (a restart shows `stopped`
        // anyway, and the seq gap covers an unclean stop).
        let state_changed = match kind {
            EventKind::State { state, .. } => *state != State::Working,
            EventKind::ModelChanged { .. } => true,
            _ => false,
        };
        Prepared {
            ts,
            seq,
            stored,
            title,
            state_changed,
        }
    }

    /// The second half: number and fan out the event, then what follows from it.
    pub(super) fn finish(
        &mut self,
        kind: EventKind,
        prepared: Prepared,
        store_error: Option<EventKind>,
    ) {
        // Readers of the shared info (`session.get`, `session.list`) must never see an older
        // state than the events a client already received.
        self.info.last_seq = prepared.seq;
        self.info.last_activity = prepared.ts;
        self.mirror();
        let emitted = self.hub.emit(kind, prepared.ts);
        if !emitted.needs_resync.is_empty() {
            self.send_snapshots(&emitted.needs_resync);
        }
        if let Some(error) = store_error {
            self.publish(error);
        }
        if let Some(title) = prepared.title {
            self.info.title = Some(title);
            self.info_changed();
        } else if prepared.state_changed {
            self.persist();
        }
        self.mirror();
    }

    /// The session's in-memory transcript, loaded from the store on first use.
    pub(super) fn transcript(&mut self) -> &mut Transcript {
        if self.transcript.is_none() {
            let store = self.ctx.store.clone();
            let id = self.info.id.clone();
            let page = tokio::task::block_in_place(|| {
                store.call_blocking(move |store| store.messages(&id, None, RECENT_MESSAGES))
            });
            let transcript = match page {
                Ok(page) => Transcript::new(page.messages, page.has_more),
                Err(e) => {
                    tracing::error!(session = %self.info.id, error = %e, "loading recent messages");
                    Transcript::new(Vec::new(), true)
                }
            };
            self.transcript = Some(transcript);
        }
        self.transcript.get_or_insert_with(Transcript::default)
    }

    /// Drops the transcript of a stopped session nobody watches (it is reloaded on use).
    pub(super) fn release_transcript(&mut self) {
        if matches!(self.info.state, State::Stopped | State::Error)
            && self.info.subscribers == 0
            && self.harness.is_none()
        {
            self.transcript = None;
        }
    }

    /// Writes an ended message to the store, waiting for the write. A failure is logged and
    /// returned as a `session.error` event to publish (once per run of failures): the live
    /// session goes on without its history.
    pub(super) async fn store_message(&mut self, message: Message, seq: u64) -> Option<EventKind> {
        match self.ctx.store.put_message(message, seq).await {
            Ok(()) => {
                self.store_failing = false;
                None
            }
            Err(e) => {
                tracing::error!(session = %self.info.id, error = %e, "storing a message failed");
                if std::mem::replace(&mut self.store_failing, true) {
                    return None;
                }
                Some(EventKind::Error {
                    code: e.code(),
                    message: format!(
                        "history store failed: {e}; the session goes on, but its messages are not stored"
                    ),
                    recoverable: true,
                })
            }
        }
    }

    /// The harness is gone (stopped or crashed) with permission requests still waiting:
    /// each is resolved `cancelled`, answered by [`Answerer::Stopped`], so that clients drop
    /// their approval cards and the audit log records how the request ended.
    pub(super) fn resolve_stranded_permissions(&mut self) {
        let stranded: Vec<String> = self
            .info
            .permissions
            .iter()
            .map(|p| p.request.clone())
            .collect();
        for request in stranded {
            self.publish(EventKind::PermissionResolved {
                request,
                option: None,
                kind: None,
                answered: Answerer::Stopped,
            });
        }
    }

    pub(super) fn set_state(&mut self, state: State, phase: Option<Phase>, reason: Option<String>) {
        if self.info.state == state && self.info.phase == phase && self.info.reason == reason {
            return;
        }
        self.publish(EventKind::State {
            state,
            phase,
            reason,
        });
        self.update_idle_clock();
        self.release_transcript();
    }

    /// Title, model or harness changed: tell subscribers and store it.
    pub(super) fn info_changed(&mut self) {
        let info = Box::new(self.info.clone());
        self.publish(EventKind::SessionUpdated { info });
        self.persist();
    }

    pub(super) fn subscribers_changed(&mut self) {
        self.info.subscribers = u32::try_from(self.hub.fanout().len()).unwrap_or(u32::MAX);
        self.mirror();
        self.update_idle_clock();
        self.release_transcript();
    }

    pub(super) fn update_idle_clock(&mut self) {
        let reapable =
            self.info.state == State::Idle && self.info.subscribers == 0 && self.harness.is_some();
        match (reapable, self.idle_since) {
            (true, None) => self.idle_since = Some(Instant::now()),
            (false, Some(_)) => self.idle_since = None,
            _ => {}
        }
    }

    pub(super) fn mirror(&self) {
        let mut shared = self.shared.info.lock().expect("session info lock");
        shared.clone_from(&self.info);
    }

    pub(super) fn record(&self) -> SessionRecord {
        SessionRecord {
            id: self.info.id.clone(),
            harness: self.info.harness.clone(),
            harness_ref: self.harness_ref.clone(),
            cwd: self.info.cwd.clone(),
            title: self.info.title.clone(),
            model: self.info.model.clone(),
            created_at: self.info.created_at,
            updated_at: self.info.last_activity,
            state: self.info.state,
            reason: self.info.reason.clone(),
            parent: self.info.parent.clone(),
            sandbox_profile: self.info.sandbox_profile.clone(),
            last_seq: self.info.last_seq,
        }
    }

    pub(super) fn persist(&self) {
        let record = self.record();
        self.ctx.store.spawn("updating a session", move |store| {
            store.update_session(&record)
        });
    }

    pub(super) fn send_snapshots(&mut self, needs: &[NeedsResync]) {
        let mut queue: Vec<NeedsResync> = needs.to_vec();
        while let Some(need) = queue.pop() {
            let (messages, has_more) = self.transcript().recent();
            let in_flight = self.transcript().in_flight().cloned();
            let line = self.hub.log().snapshot_line(
                need.reason,
                self.info.clone(),
                messages,
                has_more,
                in_flight,
                now_millis(),
            );
            let _ = self.hub.resync(need.id, line);
            queue.extend(self.hub.pump());
        }
    }
}
