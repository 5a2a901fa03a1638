//! Tool runs: `tool_execution_*` → `tool.start` / `tool.output` / `tool.end`.

use oqto_protocol::{EventKind, Part, Phase};

use super::{IdSource, Out, Translator, emit};
use oqto_pi::{PiToolResult, ended_tool_status};

impl<I: IdSource> Translator<I> {
    pub(super) fn tool_start(
        &mut self,
        call_id: &str,
        name: String,
        args: serde_json::Value,
        out: &mut Vec<Out>,
    ) {
        let Some(call) = self.tools.get_mut(call_id) else {
            return;
        };
        call.running = true;
        call.name.clone_from(&name);
        if !args.is_null() {
            call.input = args;
        }
        let (message_id, part_id, input) = (
            call.message_id.clone(),
            call.part_id.clone(),
            call.input.clone(),
        );
        self.phase_to(out, Phase::ToolRunning);
        emit(
            out,
            EventKind::ToolStart {
                message_id,
                part_id,
                call_id: call_id.to_owned(),
                name,
                input,
            },
        );
    }

    pub(super) fn tool_update(&mut self, call_id: &str, result: &PiToolResult, out: &mut Vec<Out>) {
        let Some(call) = self.tools.get_mut(call_id) else {
            return;
        };
        let text = result.text();
        // pi reports the output so far; send only what is new. If the snapshot does not extend
        // the previous one (pi's rolling truncation of long output), it is sent whole:
        // `tool.end` holds the authoritative output.
        let delta = match text.strip_prefix(call.output.as_str()) {
            Some(new) => new.to_owned(),
            None => text.clone(),
        };
        call.output = text;
        if delta.is_empty() {
            return;
        }
        emit(
            out,
            EventKind::ToolOutput {
                message_id: call.message_id.clone(),
                part_id: call.part_id.clone(),
                delta,
            },
        );
    }

    pub(super) fn tool_end(
        &mut self,
        call_id: &str,
        result: &PiToolResult,
        is_error: bool,
        out: &mut Vec<Out>,
    ) {
        let Some(call) = self.tools.remove(call_id) else {
            return;
        };
        let output = result.text();
        let status = ended_tool_status(is_error, &output);
        emit(
            out,
            EventKind::ToolEnd {
                message_id: call.message_id,
                part: Part::ToolCall {
                    id: call.part_id,
                    call_id: call_id.to_owned(),
                    name: call.name,
                    input: call.input,
                    status,
                    output: Some(output),
                    is_error,
                },
            },
        );
        if !self.tools.values().any(|c| c.running) {
            self.phase_to(out, Phase::Generating);
        }
    }
}
