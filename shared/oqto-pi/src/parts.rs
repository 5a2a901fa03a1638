//! pi's content blocks and results → the protocol's [`Part`]s: the one mapping, used by the
//! runner for live events and by the history importer for session files.
//!
//! | pi block | in a user or custom message | in an assistant message |
//! |---|---|---|
//! | `text` | `text` | `text` |
//! | `thinking` | none | `thinking` |
//! | `toolCall` | none | `tool_call`, `pending` until its result |
//! | `image` | `image` | none (pi's assistant messages hold none) |
//! | any other (`Other`) | `text` saying `[unsupported pi content block: TYPE]` | the same |
//!
//! An unknown block stays visible as a text part instead of vanishing, so a reader sees
//! that something was there, and the block keeps its place (part ids follow block
//! indices in the importer). A tool result's text reads an image as `[image]` and an
//! unknown block as the same `[unsupported pi content block: TYPE]`.

use oqto_protocol::{ModelRef, Part, PartId, ToolStatus};

use crate::message::{PiContent, PiToolCall};

/// What an assistant message that failed without a message of pi's says.
pub const PROVIDER_FAILED: &str = "the model provider failed";

/// The text that stands for a block of a kind Oqto does not read (`kind` its `type`).
pub fn unsupported_block(kind: Option<&str>) -> String {
    match kind {
        Some(kind) => format!("[unsupported pi content block: {kind}]"),
        None => "[unsupported pi content block]".to_owned(),
    }
}

/// The part a block of a user message (or of a displayed custom message) becomes.
pub fn user_part(block: &PiContent, id: PartId) -> Option<Part> {
    match block {
        PiContent::Text { text } => Some(Part::Text {
            id,
            text: text.clone(),
        }),
        PiContent::Image { data, mime_type } => Some(Part::Image {
            id,
            mime_type: mime_type.clone(),
            data: data.clone(),
            url: None,
        }),
        PiContent::Other { kind } => Some(Part::Text {
            id,
            text: unsupported_block(kind.as_deref()),
        }),
        PiContent::Thinking { .. } | PiContent::ToolCall(_) => None,
    }
}

/// The part a block of an assistant message becomes.
pub fn assistant_part(block: PiContent, id: PartId) -> Option<Part> {
    match block {
        PiContent::Text { text } => Some(Part::Text { id, text }),
        PiContent::Thinking { thinking } => Some(Part::Thinking { id, text: thinking }),
        PiContent::ToolCall(call) => Some(pending_call(id, call)),
        PiContent::Other { kind } => Some(Part::Text {
            id,
            text: unsupported_block(kind.as_deref()),
        }),
        PiContent::Image { .. } => None,
    }
}

/// A tool call that has not run yet.
pub fn pending_call(id: PartId, call: PiToolCall) -> Part {
    Part::ToolCall {
        id,
        call_id: call.id,
        name: call.name,
        input: call.arguments,
        status: ToolStatus::Pending,
        output: None,
        is_error: false,
    }
}

/// The `error` part of an assistant message that stopped with `error`.
pub fn error_part(id: PartId, error_message: Option<String>) -> Part {
    Part::Error {
        id,
        message: error_message.unwrap_or_else(|| PROVIDER_FAILED.to_owned()),
    }
}

/// A tool result's text blocks, concatenated; an image block reads `[image]`, an unknown
/// block as [`unsupported_block`], a thinking or tool call block as nothing.
pub fn tool_result_text(content: &[PiContent]) -> String {
    let mut out = String::new();
    for block in content {
        match block {
            PiContent::Text { text } => out.push_str(text),
            PiContent::Image { .. } => out.push_str("[image]"),
            PiContent::Other { kind } => out.push_str(&unsupported_block(kind.as_deref())),
            PiContent::Thinking { .. } | PiContent::ToolCall(_) => {}
        }
    }
    out
}

/// The status of a tool that ended: `aborted` when it failed with pi's abort text (bash:
/// `Command aborted`; other tools: `Operation aborted`), else `done`.
pub fn ended_tool_status(is_error: bool, output: &str) -> ToolStatus {
    let tail = output.trim_end();
    if is_error && (tail.ends_with("Command aborted") || tail.ends_with("Operation aborted")) {
        ToolStatus::Aborted
    } else {
        ToolStatus::Done
    }
}

/// The model of an assistant message, when pi names both its provider and its id.
pub fn model_ref(provider: Option<String>, model: Option<String>) -> Option<ModelRef> {
    Some(ModelRef {
        provider: provider?,
        id: model?,
    })
}

#[cfg(test)]
mod tests {
    use oqto_protocol::{Part, PartId, ToolStatus};
    use serde_json::json;

    use super::{assistant_part, ended_tool_status, tool_result_text, user_part};
    use crate::PiContent;

    fn block(value: serde_json::Value) -> PiContent {
        PiContent::from_value(value)
    }

    fn text_of(part: Option<Part>) -> String {
        match part {
            Some(Part::Text { text, .. }) => text,
            other => panic!("not a text part: {other:?}"),
        }
    }

    #[test]
    fn unknown_blocks_become_text_that_names_them() {
        let id = || PartId::new("p");
        let audio = block(json!({"type": "audio"}));
        assert_eq!(
            text_of(user_part(&audio, id())),
            "[unsupported pi content block: audio]"
        );
        assert_eq!(
            text_of(assistant_part(audio, id())),
            "[unsupported pi content block: audio]"
        );
        assert_eq!(
            text_of(user_part(&block(json!(7)), id())),
            "[unsupported pi content block]"
        );
    }

    #[test]
    fn each_role_keeps_the_blocks_it_can_hold() {
        let id = || PartId::new("p");
        let thinking = block(json!({"type": "thinking", "thinking": "hm"}));
        let image = block(json!({"type": "image", "data": "iVBO", "mimeType": "image/png"}));
        let call = block(
            json!({"type": "toolCall", "id": "c1", "name": "bash", "arguments": {"command": "ls"}}),
        );
        assert_eq!(user_part(&thinking, id()), None);
        assert_eq!(user_part(&call, id()), None);
        assert!(matches!(user_part(&image, id()), Some(Part::Image { .. })));
        assert_eq!(assistant_part(image, id()), None);
        assert!(matches!(
            assistant_part(thinking, id()),
            Some(Part::Thinking { text, .. }) if text == "hm"
        ));
        assert!(matches!(
            assistant_part(call, id()),
            Some(Part::ToolCall { call_id, status: ToolStatus::Pending, .. }) if call_id == "c1"
        ));
    }

    #[test]
    fn tool_results_read_as_text() {
        let content = [
            block(json!({"type": "text", "text": "a"})),
            block(json!({"type": "image", "data": "x", "mimeType": "image/png"})),
            block(json!({"type": "blob"})),
        ];
        assert_eq!(
            tool_result_text(&content),
            "a[image][unsupported pi content block: blob]"
        );
        assert_eq!(
            ended_tool_status(true, "…\nCommand aborted\n"),
            ToolStatus::Aborted
        );
        assert_eq!(
            ended_tool_status(true, "Operation aborted"),
            ToolStatus::Aborted
        );
        assert_eq!(
            ended_tool_status(false, "Command aborted"),
            ToolStatus::Done
        );
        assert_eq!(ended_tool_status(true, "exit 1"), ToolStatus::Done);
    }
}
