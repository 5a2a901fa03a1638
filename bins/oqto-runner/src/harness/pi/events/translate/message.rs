//! Assembling messages and their parts from pi's message events.

use std::collections::BTreeMap;

use oqto_pi::{
    PiContent, PiMessage, PiStopReason, PiStreamEvent, PiUsage, assistant_part, error_part,
    model_ref, pending_call, user_part,
};
use oqto_protocol::{
    ErrorCode, EventKind, Message, MessageId, Millis, ModelRef, Part, PartId, Phase, Role,
    StopReason, ToolStatus,
};

use super::{IdSource, InFlight, Out, StreamKind, StreamPart, ToolCall, Translator, emit};

impl<I: IdSource> Translator<I> {
    pub(super) fn message_start(&mut self, message: PiMessage, now: Millis, out: &mut Vec<Out>) {
        match message {
            PiMessage::User { content, .. } => {
                let id = self.ids.message_id();
                emit(
                    out,
                    EventKind::MessageStart {
                        message_id: id.clone(),
                        role: Role::User,
                        model: None,
                    },
                );
                let mut flight = InFlight {
                    id,
                    role: Role::User,
                    created_at: now,
                    model: None,
                    parts: BTreeMap::new(),
                };
                for (index, block) in content.iter().enumerate() {
                    let part_id = self.ids.part_id();
                    if let Some(part) = user_part(block, part_id.clone()) {
                        emit(
                            out,
                            EventKind::PartStart {
                                message_id: flight.id.clone(),
                                part: part.clone(),
                            },
                        );
                        emit(
                            out,
                            EventKind::PartEnd {
                                message_id: flight.id.clone(),
                                part,
                            },
                        );
                        flight.parts.insert(
                            index,
                            StreamPart {
                                id: part_id,
                                kind: StreamKind::Text,
                                ended: true,
                                text: String::new(),
                                call: None,
                            },
                        );
                    }
                }
                self.in_flight = Some(flight);
            }
            PiMessage::Assistant {
                provider, model, ..
            } => {
                self.start_assistant(model_ref(provider, model), now, out);
            }
            // Tool results are reported by `tool_execution_end`; the other roles are not
            // streamed live.
            _ => {}
        }
    }

    fn start_assistant(&mut self, model: Option<ModelRef>, now: Millis, out: &mut Vec<Out>) {
        if let Some(model) = &model {
            if self.model.as_ref().is_some_and(|known| known != model) {
                emit(
                    out,
                    EventKind::ModelChanged {
                        model: model.clone(),
                        thinking_level: self.thinking_level,
                    },
                );
            }
            self.model = Some(model.clone());
        }
        self.phase_to(out, Phase::Generating);
        let id = self.ids.message_id();
        emit(
            out,
            EventKind::MessageStart {
                message_id: id.clone(),
                role: Role::Assistant,
                model: model.clone(),
            },
        );
        self.in_flight = Some(InFlight {
            id,
            role: Role::Assistant,
            created_at: now,
            model,
            parts: BTreeMap::new(),
        });
    }

    /// The assistant message in flight, started on the fly if pi skipped `message_start`.
    fn assistant(&mut self, now: Millis, out: &mut Vec<Out>) -> &mut InFlight {
        if !matches!(&self.in_flight, Some(f) if f.role == Role::Assistant) {
            let model = self.model.clone();
            self.start_assistant(model, now, out);
        }
        self.in_flight.as_mut().expect("started above")
    }

    pub(super) fn stream(&mut self, event: PiStreamEvent, now: Millis, out: &mut Vec<Out>) {
        match event {
            PiStreamEvent::TextStart { content_index } => {
                self.phase_to(out, Phase::Generating);
                self.part_start(content_index, StreamKind::Text, None, now, out);
            }
            PiStreamEvent::ThinkingStart { content_index } => {
                self.phase_to(out, Phase::Thinking);
                self.part_start(content_index, StreamKind::Thinking, None, now, out);
            }
            PiStreamEvent::ToolcallStart {
                content_index,
                partial,
            } => {
                self.phase_to(out, Phase::Generating);
                // Only the call's id and name are taken from the snapshot: they are fixed
                // from the call's first chunk on.
                let call = partial
                    .and_then(|p| p.content.into_iter().nth(content_index))
                    .and_then(|block| match block {
                        PiContent::ToolCall(c) => Some((c.id, c.name)),
                        _ => None,
                    });
                self.part_start(content_index, StreamKind::ToolCall, call, now, out);
            }
            PiStreamEvent::TextDelta {
                content_index,
                delta,
            } => self.part_delta(content_index, StreamKind::Text, delta, now, out),
            PiStreamEvent::ThinkingDelta {
                content_index,
                delta,
            } => self.part_delta(content_index, StreamKind::Thinking, delta, now, out),
            PiStreamEvent::ToolcallDelta {
                content_index,
                delta,
            } => self.part_delta(content_index, StreamKind::ToolCall, delta, now, out),
            PiStreamEvent::TextEnd {
                content_index,
                content,
            } => {
                let id = self.part_for(content_index, StreamKind::Text, now, out);
                self.part_end(content_index, Part::Text { id, text: content }, out);
            }
            PiStreamEvent::ThinkingEnd {
                content_index,
                content,
            } => {
                let id = self.part_for(content_index, StreamKind::Thinking, now, out);
                self.part_end(content_index, Part::Thinking { id, text: content }, out);
            }
            PiStreamEvent::ToolcallEnd {
                content_index,
                tool_call,
            } => {
                let id = self.part_for(content_index, StreamKind::ToolCall, now, out);
                self.part_end(content_index, pending_call(id, tool_call), out);
            }
            PiStreamEvent::Other => {}
        }
    }

    fn part_start(
        &mut self,
        index: usize,
        kind: StreamKind,
        call: Option<(String, String)>,
        now: Millis,
        out: &mut Vec<Out>,
    ) -> PartId {
        let id = self.ids.part_id();
        let flight = self.assistant(now, out);
        let part = match kind {
            StreamKind::Text => Part::Text {
                id: id.clone(),
                text: String::new(),
            },
            StreamKind::Thinking => Part::Thinking {
                id: id.clone(),
                text: String::new(),
            },
            StreamKind::ToolCall => {
                let (call_id, name) = call.clone().unwrap_or_default();
                Part::ToolCall {
                    id: id.clone(),
                    call_id,
                    name,
                    input: serde_json::Value::Object(serde_json::Map::new()),
                    status: ToolStatus::Pending,
                    output: None,
                    is_error: false,
                }
            }
        };
        flight.parts.insert(
            index,
            StreamPart {
                id: id.clone(),
                kind,
                ended: false,
                text: String::new(),
                call,
            },
        );
        let message_id = flight.id.clone();
        emit(out, EventKind::PartStart { message_id, part });
        id
    }

    /// The id of the part at `index`, started if pi skipped its `*_start`.
    fn part_for(
        &mut self,
        index: usize,
        kind: StreamKind,
        now: Millis,
        out: &mut Vec<Out>,
    ) -> PartId {
        let flight = self.assistant(now, out);
        match flight.parts.get(&index) {
            Some(part) if part.kind == kind => part.id.clone(),
            _ => self.part_start(index, kind, None, now, out),
        }
    }

    fn part_delta(
        &mut self,
        index: usize,
        kind: StreamKind,
        delta: String,
        now: Millis,
        out: &mut Vec<Out>,
    ) {
        if delta.is_empty() {
            return;
        }
        let part_id = self.part_for(index, kind, now, out);
        let flight = self.in_flight.as_mut().expect("part_for starts a message");
        if let Some(part) = flight.parts.get_mut(&index) {
            part.text.push_str(&delta);
        }
        let message_id = flight.id.clone();
        emit(
            out,
            EventKind::PartDelta {
                message_id,
                part_id,
                delta,
            },
        );
    }

    fn part_end(&mut self, index: usize, part: Part, out: &mut Vec<Out>) {
        let Some(flight) = self.in_flight.as_mut() else {
            return;
        };
        if let Some(stream) = flight.parts.get_mut(&index) {
            stream.ended = true;
        }
        let message_id = flight.id.clone();
        emit(out, EventKind::PartEnd { message_id, part });
    }

    pub(super) fn message_end(&mut self, message: PiMessage, now: Millis, out: &mut Vec<Out>) {
        match message {
            PiMessage::User { content, .. } => {
                let flight = match self.in_flight.take() {
                    Some(f) if f.role == Role::User => f,
                    // No `message_start`: replay it, which also emits the parts.
                    _ => {
                        self.message_start(
                            PiMessage::User {
                                content: content.clone(),
                                timestamp: None,
                            },
                            now,
                            out,
                        );
                        self.in_flight.take().expect("just started")
                    }
                };
                let parts = content
                    .iter()
                    .enumerate()
                    .filter_map(|(index, block)| {
                        let id = flight.parts.get(&index)?.id.clone();
                        user_part(block, id)
                    })
                    .collect();
                emit(
                    out,
                    EventKind::MessageEnd {
                        message: Message {
                            id: flight.id,
                            session: self.session.clone(),
                            role: Role::User,
                            parts,
                            created_at: flight.created_at,
                            model: None,
                            usage: None,
                            stop_reason: None,
                            client_msg_id: None,
                        },
                    },
                );
            }
            PiMessage::Assistant {
                content,
                usage,
                stop_reason,
                error_message,
                ..
            } => self.assistant_end(
                content,
                usage.as_ref(),
                stop_reason.as_ref(),
                error_message,
                now,
                out,
            ),
            _ => {}
        }
    }

    fn assistant_end(
        &mut self,
        content: Vec<PiContent>,
        usage: Option<&PiUsage>,
        stop_reason: Option<&PiStopReason>,
        error_message: Option<String>,
        now: Millis,
        out: &mut Vec<Out>,
    ) {
        self.assistant(now, out);
        let mut flight = self.in_flight.take().expect("started above");
        let mut parts = Vec::new();
        for (index, block) in content.into_iter().enumerate() {
            // Only blocks pi streams can have a streamed part; the others (an unknown
            // block's text among them) start and end here.
            let kind = match &block {
                PiContent::Text { .. } => Some(StreamKind::Text),
                PiContent::Thinking { .. } => Some(StreamKind::Thinking),
                PiContent::ToolCall(_) => Some(StreamKind::ToolCall),
                PiContent::Image { .. } | PiContent::Other { .. } => None,
            };
            let streamed =
                kind.and_then(|kind| flight.parts.get(&index).filter(|p| p.kind == kind));
            // Labelled below: the streamed part's id, or a new one.
            let Some(mut part) = assistant_part(block, PartId::new("")) else {
                continue;
            };
            let part = if let Some(stream) = streamed {
                *part.id_mut() = stream.id.clone();
                if !stream.ended {
                    emit(
                        out,
                        EventKind::PartEnd {
                            message_id: flight.id.clone(),
                            part: part.clone(),
                        },
                    );
                }
                part
            } else {
                *part.id_mut() = self.ids.part_id();
                start_and_end(out, &flight.id, &part);
                part
            };
            if let Part::ToolCall {
                id,
                call_id,
                name,
                input,
                ..
            } = &part
            {
                self.tools.insert(
                    call_id.clone(),
                    ToolCall {
                        message_id: flight.id.clone(),
                        part_id: id.clone(),
                        name: name.clone(),
                        input: input.clone(),
                        output: String::new(),
                        running: false,
                    },
                );
            }
            parts.push(part);
        }
        end_unfinished(&mut flight, out);
        let stop_reason = stop_reason.and_then(PiStopReason::to_protocol);
        let error = (stop_reason == Some(StopReason::Error))
            .then(|| error_part(self.ids.part_id(), error_message));
        if let Some(part) = &error {
            start_and_end(out, &flight.id, part);
            parts.push(part.clone());
        }
        emit(
            out,
            EventKind::MessageEnd {
                message: Message {
                    id: flight.id,
                    session: self.session.clone(),
                    role: Role::Assistant,
                    parts,
                    created_at: flight.created_at,
                    model: flight.model,
                    usage: usage.map(PiUsage::to_usage),
                    stop_reason,
                    client_msg_id: None,
                },
            },
        );
        if let Some(Part::Error { message, .. }) = error {
            emit(
                out,
                EventKind::Error {
                    code: ErrorCode::HarnessFailed,
                    message,
                    recoverable: true,
                },
            );
        }
    }
}

/// Streamed parts the final message no longer has still get their `part.end`, with what
/// their deltas added up to.
fn end_unfinished(flight: &mut InFlight, out: &mut Vec<Out>) {
    for stream in flight.parts.values_mut().filter(|p| !p.ended) {
        stream.ended = true;
        let part = match stream.kind {
            StreamKind::Text => Part::Text {
                id: stream.id.clone(),
                text: stream.text.clone(),
            },
            StreamKind::Thinking => Part::Thinking {
                id: stream.id.clone(),
                text: stream.text.clone(),
            },
            StreamKind::ToolCall => {
                let (call_id, name) = stream.call.clone().unwrap_or_default();
                Part::ToolCall {
                    id: stream.id.clone(),
                    call_id,
                    name,
                    input: serde_json::Value::Null,
                    status: ToolStatus::Aborted,
                    output: None,
                    is_error: true,
                }
            }
        };
        emit(
            out,
            EventKind::PartEnd {
                message_id: flight.id.clone(),
                part,
            },
        );
    }
}

fn start_and_end(out: &mut Vec<Out>, message_id: &MessageId, part: &Part) {
    emit(
        out,
        EventKind::PartStart {
            message_id: message_id.clone(),
            part: part.clone(),
        },
    );
    emit(
        out,
        EventKind::PartEnd {
            message_id: message_id.clone(),
            part: part.clone(),
        },
    );
}
