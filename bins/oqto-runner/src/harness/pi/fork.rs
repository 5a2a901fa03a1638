//! Fork: `get_fork_messages` → `fork {entryId}` → `get_state` → `switch_session` back
//! (see the module docs of `pi` for why).

use oqto_pi::{PiCancelled, PiForkMessages, PiResponse, PiState};
use oqto_protocol::ErrorCode;
use serde_json::json;

use super::{ForkRun, Pending, PiAdapter, error_text, excerpt, step_failed};
use crate::harness::IdSource;
use crate::harness::adapter::{Done, OpError, Output, Token};

impl<I: IdSource> PiAdapter<I> {
    pub(super) fn start_fork(
        &mut self,
        token: Token,
        user_index: usize,
        text: String,
    ) -> Result<Vec<Output>, OpError> {
        let Some(original) = self.session_file.clone() else {
            return Err(OpError::new(
                ErrorCode::Unsupported,
                "pi runs without a session file, so it cannot fork",
            ));
        };
        if self.busy() {
            return Err(fork_while_busy());
        }
        self.fork = Some(ForkRun {
            token,
            original,
            away: false,
        });
        let command = json!({"type": "get_fork_messages"});
        Ok(vec![self.write(
            command,
            Pending::ForkMessages { user_index, text },
        )])
    }

    pub(super) fn fork_messages(
        &mut self,
        response: &PiResponse,
        user_index: usize,
        text: &str,
    ) -> Vec<Output> {
        if !response.success {
            return self.fork_over(Err(step_failed("get_fork_messages", error_text(response))));
        }
        let messages = match response.data::<PiForkMessages>() {
            Ok(data) => data.messages,
            Err(why) => return self.fork_over(Err(step_failed("get_fork_messages", &why))),
        };
        let entry = messages
            .get(user_index)
            .filter(|m| m.text == text)
            .or_else(|| messages.iter().find(|m| m.text == text));
        let Some(entry) = entry else {
            return self.fork_over(Err(OpError::new(
                ErrorCode::MessageNotFound,
                format!(
                    "pi has no user message {:?} to fork from ({} user messages)",
                    excerpt(text),
                    messages.len()
                ),
            )));
        };
        // A prompt may have started since the fork was asked for.
        if self.busy() {
            return self.fork_over(Err(fork_while_busy()));
        }
        let command = json!({"type": "fork", "entryId": entry.entry_id});
        if let Some(fork) = &mut self.fork {
            fork.away = true;
        }
        vec![self.write(command, Pending::ForkEntry)]
    }

    pub(super) fn fork_entry(&mut self, response: &PiResponse) -> Vec<Output> {
        let failure = if response.success {
            match response.data::<PiCancelled>() {
                Ok(PiCancelled { cancelled: false }) => None,
                Ok(PiCancelled { cancelled: true }) => Some("pi cancelled it".to_owned()),
                Err(why) => Some(why),
            }
        } else {
            Some(error_text(response).to_owned())
        };
        if let Some(why) = failure {
            // pi did not switch (it fails before, or cancels instead of switching).
            if let Some(fork) = &mut self.fork {
                fork.away = false;
            }
            return self.fork_over(Err(step_failed("fork", &why)));
        }
        vec![self.write(json!({"type": "get_state"}), Pending::ForkState)]
    }

    pub(super) fn fork_state(&mut self, response: &PiResponse) -> Vec<Output> {
        let original = self
            .fork
            .as_ref()
            .map(|f| f.original.clone())
            .unwrap_or_default();
        let result = if response.success {
            match response.data::<PiState>() {
                Ok(PiState {
                    session_file: Some(file),
                    ..
                }) if file != original => Ok(Done::Forked { resume: file }),
                Ok(PiState {
                    session_file: Some(_),
                    ..
                }) => Err(step_failed(
                    "get_state",
                    "the session file did not change after the fork",
                )),
                Ok(_) => Err(step_failed("get_state", "no session file after the fork")),
                Err(why) => Err(step_failed("get_state", &why)),
            }
        } else {
            Err(step_failed("get_state", error_text(response)))
        };
        let command = json!({"type": "switch_session", "sessionPath": original});
        vec![self.write(command, Pending::ForkSwitch { result })]
    }

    pub(super) fn fork_switch(
        &mut self,
        response: &PiResponse,
        result: Result<Done, OpError>,
    ) -> Vec<Output> {
        let failure = if response.success {
            match response.data::<PiCancelled>() {
                Ok(PiCancelled { cancelled: false }) => None,
                Ok(PiCancelled { cancelled: true }) => Some("pi cancelled it".to_owned()),
                Err(why) => Some(why),
            }
        } else {
            Some(error_text(response).to_owned())
        };
        if let Some(fork) = &mut self.fork {
            fork.away = false;
        }
        let Some(why) = failure else {
            return self.fork_over(result);
        };
        let original = self
            .fork
            .as_ref()
            .map(|f| f.original.clone())
            .unwrap_or_default();
        let mut outputs = vec![Output::Failed(format!(
            "pi did not switch back to {original} after a fork ({why}); it is on the branch"
        ))];
        outputs.extend(self.fork_over(Err(step_failed("switch_session", &why))));
        outputs
    }

    /// Answers the fork and writes the commands held while it ran.
    pub(super) fn fork_over(&mut self, result: Result<Done, OpError>) -> Vec<Output> {
        let Some(fork) = self.fork.take() else {
            return vec![Output::Warn(
                "a fork step was answered with no fork in flight".into(),
            )];
        };
        let mut outputs = vec![Output::Done {
            token: fork.token,
            result,
        }];
        while let Some((token, op)) = self.held.pop_front() {
            match self.command_now(token, op) {
                Ok(more) => outputs.extend(more),
                Err(err) => outputs.push(Output::Done {
                    token,
                    result: Err(err),
                }),
            }
        }
        outputs
    }
}

pub(super) fn fork_while_busy() -> OpError {
    OpError::new(
        ErrorCode::InvalidState,
        "pi is working; fork once the turn has ended (or abort it)",
    )
}
