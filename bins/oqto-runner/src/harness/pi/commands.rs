//! Client commands: each becomes one pi command, except `set_model` without a provider
//! (`get_available_models` first) and `fork` (`fork.rs`).

use oqto_pi::{PiCompacted, PiModel, PiResponse};
use oqto_protocol::{ErrorCode, EventKind, ModelRef};
use serde_json::{Value, json};

use super::{ALREADY_PROCESSING, Answer, MODEL_NOT_FOUND, Pending, PiAdapter, error_text};
use crate::harness::IdSource;
use crate::harness::adapter::{Done, ModelChoice, Op, OpError, Output, Token};

impl<I: IdSource> PiAdapter<I> {
    /// Writes `op` now (no fork in flight).
    pub(super) fn command_now(&mut self, token: Token, op: Op) -> Result<Vec<Output>, OpError> {
        let (command, answer) = match op {
            Op::Prompt { text, images } => {
                let mut command = json!({"type": "prompt", "message": text});
                if !images.is_empty() {
                    let images: Vec<Value> = images
                        .into_iter()
                        .map(|image| {
                            json!({"type": "image", "data": image.data, "mimeType": image.mime_type})
                        })
                        .collect();
                    command["images"] = Value::Array(images);
                }
                (command, Answer::Prompt)
            }
            Op::Steer { text } => (json!({"type": "steer", "message": text}), Answer::Empty),
            Op::FollowUp { text } => (json!({"type": "follow_up", "message": text}), Answer::Empty),
            Op::Abort => (json!({"type": "abort"}), Answer::Empty),
            Op::SetModel(choice) => return Ok(vec![self.set_model(token, choice)]),
            Op::GetModels => (json!({"type": "get_available_models"}), Answer::Models),
            Op::SetThinkingLevel(level) => (
                json!({"type": "set_thinking_level", "level": level}),
                Answer::Empty,
            ),
            Op::Compact { instructions } => {
                let mut command = json!({"type": "compact"});
                if let Some(instructions) = instructions {
                    command["customInstructions"] = Value::String(instructions);
                }
                (command, Answer::Compacted)
            }
            Op::Rename { title } => (
                json!({"type": "set_session_name", "name": title}),
                Answer::Empty,
            ),
            Op::Fork {
                user_index, text, ..
            } => return self.start_fork(token, user_index, text),
            // pi never asks.
            Op::PermissionReply { request, .. } => return Err(OpError::no_such_request(&request)),
        };
        Ok(vec![
            self.write(command, Pending::Command { token, answer }),
        ])
    }

    pub(super) fn set_model(&mut self, token: Token, choice: ModelChoice) -> Output {
        match choice.provider {
            Some(provider) => {
                let wanted = format!("{provider}/{}", choice.model);
                let command = set_model_command(&provider, &choice.model);
                self.write(command, Pending::SetModel { token, wanted })
            }
            None => self.write(
                json!({"type": "get_available_models"}),
                Pending::ResolveModel {
                    token,
                    model: choice.model,
                },
            ),
        }
    }

    pub(super) fn resolve_model(
        &mut self,
        token: Token,
        response: &PiResponse,
        model: &str,
    ) -> Vec<Output> {
        let found = if response.success {
            response
                .models()
                .map_err(|why| {
                    OpError::new(
                        ErrorCode::HarnessFailed,
                        format!("pi get_available_models: {why}"),
                    )
                })
                .and_then(|models| pick_model(&models, model).cloned())
        } else {
            Err(OpError::new(
                ErrorCode::HarnessFailed,
                format!("pi get_available_models failed: {}", error_text(response)),
            ))
        };
        match found {
            Ok(found) => {
                let wanted = format!("{}/{}", found.provider, found.id);
                let command = set_model_command(&found.provider, &found.id);
                vec![self.write(command, Pending::SetModel { token, wanted })]
            }
            Err(err) => vec![Output::Done {
                token,
                result: Err(err),
            }],
        }
    }

    /// The answer to a client's `set_model`.
    pub(super) fn model_set(
        &mut self,
        token: Token,
        response: &PiResponse,
        wanted: &str,
    ) -> Vec<Output> {
        let model = if response.success {
            response.data::<PiModel>().map_err(|why| {
                OpError::new(
                    ErrorCode::HarnessFailed,
                    format!("pi set_model `{wanted}`: {why}"),
                )
            })
        } else {
            let error = error_text(response);
            let code = if error.starts_with(MODEL_NOT_FOUND) {
                ErrorCode::BadRequest
            } else {
                ErrorCode::HarnessFailed
            };
            Err(OpError::new(code, error.to_owned()))
        };
        let mut outputs = Vec::new();
        let result = match model {
            Ok(model) => {
                let info = model.info();
                let model = model.model_ref();
                let level_changed = std::mem::take(&mut self.level_changed);
                if level_changed || self.model.as_ref() != Some(&model) {
                    outputs.push(self.model_changed(model));
                }
                Ok(Done::Model(info))
            }
            Err(err) => {
                // A level change absorbed for this request still happened.
                let still_waiting = self.pending.values().any(Pending::is_set_model);
                if self.level_changed && !still_waiting {
                    self.level_changed = false;
                    if let Some(model) = self.model.clone() {
                        outputs.push(self.model_changed(model));
                    }
                }
                Err(err)
            }
        };
        outputs.push(Output::Done { token, result });
        outputs
    }

    /// `model.changed` for `model` and the current thinking level, which the translator
    /// learns too.
    pub(super) fn model_changed(&mut self, model: ModelRef) -> Output {
        self.model = Some(model.clone());
        self.translator
            .set_model(model.clone(), self.thinking_level);
        Output::Event(EventKind::ModelChanged {
            model,
            thinking_level: self.thinking_level,
        })
    }
}

/// The one model with id `id` among `models`.
pub(super) fn pick_model<'a>(models: &'a [PiModel], id: &str) -> Result<&'a PiModel, OpError> {
    let found: Vec<&PiModel> = models.iter().filter(|m| m.id == id).collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(OpError::new(
            ErrorCode::BadRequest,
            format!("no model `{id}`"),
        )),
        several => {
            let providers: Vec<&str> = several.iter().map(|m| m.provider.as_str()).collect();
            Err(OpError::new(
                ErrorCode::BadRequest,
                format!(
                    "model `{id}` is offered by several providers ({}); name the provider",
                    providers.join(", ")
                ),
            ))
        }
    }
}

/// Whether `current` already is the model `choice` names.
pub(super) fn is_current(current: Option<&ModelRef>, choice: &ModelChoice) -> bool {
    current.is_some_and(|current| {
        current.id == choice.model
            && choice
                .provider
                .as_ref()
                .is_none_or(|provider| *provider == current.provider)
    })
}

pub(super) fn set_model_command(provider: &str, model: &str) -> Value {
    json!({"type": "set_model", "provider": provider, "modelId": model})
}

/// A client command's answer from pi's response.
pub(super) fn command_answer(answer: Answer, response: &PiResponse) -> Result<Done, OpError> {
    if !response.success {
        let error = error_text(response);
        let code = if answer == Answer::Prompt && error.starts_with(ALREADY_PROCESSING) {
            ErrorCode::InvalidState
        } else {
            ErrorCode::HarnessFailed
        };
        return Err(OpError::new(code, error.to_owned()));
    }
    let unreadable = |why: String| {
        OpError::new(
            ErrorCode::HarnessFailed,
            format!("pi {}: {why}", response.command),
        )
    };
    match answer {
        Answer::Prompt | Answer::Empty => Ok(Done::Empty),
        Answer::Models => response
            .models()
            .map(|models| Done::Models(models.iter().map(PiModel::info).collect()))
            .map_err(unreadable),
        Answer::Compacted => response
            .data::<PiCompacted>()
            .map(|c| Done::Compacted {
                summary: c.summary,
                tokens_before: c.tokens_before,
            })
            .map_err(unreadable),
    }
}
