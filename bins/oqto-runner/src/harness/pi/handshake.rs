//! The handshake: `get_state`, then, when a model was asked for at start and pi does not
//! use it, `set_model` (after `get_available_models` when the provider is not named).

use oqto_pi::{PiModel, PiResponse, PiState};
use oqto_protocol::State;
use serde_json::json;

use super::commands::{is_current, pick_model, set_model_command};
use super::{Pending, PiAdapter, error_text, thinking_level};
use crate::harness::IdSource;
use crate::harness::adapter::{ModelChoice, Output, Ready};

impl<I: IdSource> PiAdapter<I> {
    pub(super) fn handshake(
        &mut self,
        response: &PiResponse,
        model: Option<ModelChoice>,
    ) -> Vec<Output> {
        if !response.success {
            return vec![Output::Failed(format!(
                "pi get_state failed: {}",
                error_text(response)
            ))];
        }
        let state: PiState = match response.data() {
            Ok(state) => state,
            Err(why) => return vec![Output::Failed(format!("pi get_state: {why}"))],
        };
        let in_use = state.model_in_use();
        let ready = Ready {
            resume: state.session_file,
            model: in_use,
            thinking_level: state.thinking_level.as_deref().and_then(thinking_level),
            title: state.session_name,
            capabilities: None,
        };
        self.session_file.clone_from(&ready.resume);
        self.model.clone_from(&ready.model);
        self.thinking_level = ready.thinking_level;
        match model {
            Some(choice) if !is_current(ready.model.as_ref(), &choice) => match choice.provider {
                Some(provider) => {
                    let wanted = format!("{provider}/{}", choice.model);
                    let command = set_model_command(&provider, &choice.model);
                    vec![self.write(command, Pending::HandshakeModel { ready, wanted })]
                }
                None => vec![self.write(
                    json!({"type": "get_available_models"}),
                    Pending::HandshakeModels {
                        ready,
                        model: choice.model,
                    },
                )],
            },
            _ => self.ready(ready),
        }
    }

    pub(super) fn handshake_models(
        &mut self,
        response: &PiResponse,
        ready: Ready,
        model: &str,
    ) -> Vec<Output> {
        if !response.success {
            return vec![Output::Failed(format!(
                "pi get_available_models failed: {}",
                error_text(response)
            ))];
        }
        let models = match response.models() {
            Ok(models) => models,
            Err(why) => return vec![Output::Failed(format!("pi get_available_models: {why}"))],
        };
        match pick_model(&models, model) {
            Ok(found) => {
                let wanted = format!("{}/{}", found.provider, found.id);
                let command = set_model_command(&found.provider, &found.id);
                vec![self.write(command, Pending::HandshakeModel { ready, wanted })]
            }
            Err(err) => vec![Output::Failed(format!(
                "cannot start pi on the model asked for: {err}"
            ))],
        }
    }

    pub(super) fn handshake_model(
        &mut self,
        response: &PiResponse,
        mut ready: Ready,
        wanted: &str,
    ) -> Vec<Output> {
        if !response.success {
            return vec![Output::Failed(format!(
                "pi refused model `{wanted}`: {}",
                error_text(response)
            ))];
        }
        match response.data::<PiModel>() {
            Ok(model) => {
                ready.model = Some(model.model_ref());
                self.model.clone_from(&ready.model);
                ready.thinking_level = self.thinking_level;
                // `Ready` carries the level; no event is due before it.
                self.level_changed = false;
                self.ready(ready)
            }
            Err(why) => vec![Output::Failed(format!("pi set_model `{wanted}`: {why}"))],
        }
    }

    pub(super) fn ready(&mut self, ready: Ready) -> Vec<Output> {
        if let Some(model) = &ready.model {
            self.translator
                .set_model(model.clone(), ready.thinking_level);
        }
        self.translator.set_state(State::Idle, None);
        vec![Output::Ready(ready)]
    }
}
