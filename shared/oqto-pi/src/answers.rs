//! The `data` of pi's answers to the commands the runner sends (`get_state`,
//! `get_available_models`, `set_model`, `compact`, `get_fork_messages`, `fork`,
//! `switch_session`): only the fields used. Read through [`PiResponse::data`].

use oqto_protocol::{ModelInfo, ModelRef};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::rpc::PiResponse;

impl PiResponse {
    /// The answer's `data` as `T`, or why not (for a message).
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, String> {
        let data = self.data.clone().unwrap_or(Value::Null);
        serde_json::from_value(data).map_err(|e| format!("unreadable answer ({e})"))
    }

    /// The models of a `get_available_models` answer; entries that do not read as a
    /// [`PiModel`] are skipped.
    pub fn models(&self) -> Result<Vec<PiModel>, String> {
        Ok(self
            .data::<PiModels>()?
            .models
            .into_iter()
            .filter_map(|m| serde_json::from_value(m).ok())
            .collect())
    }
}

/// `get_state`'s data.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PiState {
    /// A [`PiModel`], read leniently by [`PiState::model_in_use`] (absent or odd when pi
    /// has no usable model).
    #[serde(default)]
    pub model: Option<Value>,
    #[serde(default)]
    pub thinking_level: Option<String>,
    #[serde(default)]
    pub session_file: Option<String>,
    #[serde(default)]
    pub session_name: Option<String>,
}

impl PiState {
    /// The model in use; pi reports `unknown`/`unknown` when it has none.
    pub fn model_in_use(&self) -> Option<ModelRef> {
        let model: PiModel = serde_json::from_value(self.model.clone()?).ok()?;
        (model.provider != "unknown" || model.id != "unknown").then(|| model.model_ref())
    }
}

/// pi's `Model`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PiModel {
    pub id: String,
    pub provider: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub context_window: Option<u64>,
    #[serde(default)]
    pub reasoning: bool,
}

impl PiModel {
    pub fn model_ref(&self) -> ModelRef {
        ModelRef {
            provider: self.provider.clone(),
            id: self.id.clone(),
        }
    }

    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            provider: self.provider.clone(),
            id: self.id.clone(),
            name: self.name.clone(),
            context_window: self.context_window,
            reasoning: self.reasoning,
        }
    }
}

/// `get_available_models`' data.
#[derive(Debug, Deserialize)]
struct PiModels {
    /// [`PiModel`]s, read one by one.
    models: Vec<Value>,
}

/// `compact`'s data.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PiCompacted {
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub tokens_before: Option<u64>,
}

/// `get_fork_messages`' data.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PiForkMessages {
    pub messages: Vec<PiForkMessage>,
}

/// A user message a fork can start from.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PiForkMessage {
    pub entry_id: String,
    #[serde(default)]
    pub text: String,
}

/// The data of `fork` and `switch_session`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PiCancelled {
    #[serde(default)]
    pub cancelled: bool,
}

#[cfg(test)]
mod tests {
    use oqto_protocol::ModelRef;
    use serde_json::json;

    use crate::{PiLine, PiState, parse_line};

    fn response(data: &serde_json::Value) -> crate::PiResponse {
        let line = json!({"type": "response", "command": "c", "success": true, "data": data});
        match parse_line(&line.to_string()).unwrap() {
            PiLine::Response(response) => response,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn models_that_do_not_read_are_skipped() {
        let r = response(&json!({"models": [
            {"id": "m", "provider": "p", "contextWindow": 8},
            {"id": 5}
        ]}));
        let models = r.models().unwrap();
        assert_eq!(models.len(), 1);
        assert_eq!(models[0].info().context_window, Some(8));
        assert!(response(&json!({})).models().is_err());
    }

    #[test]
    fn no_model_in_use_reads_as_none() {
        let state = |model| {
            response(&json!({"model": model}))
                .data::<PiState>()
                .unwrap()
                .model_in_use()
        };
        assert_eq!(state(json!({"id": "unknown", "provider": "unknown"})), None);
        assert_eq!(state(json!("odd")), None);
        assert_eq!(
            state(json!({"id": "m", "provider": "p"})),
            Some(ModelRef {
                provider: "p".into(),
                id: "m".into()
            })
        );
    }
}
