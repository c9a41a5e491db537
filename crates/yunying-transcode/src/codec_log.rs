//! What OpenJPEG says while it decodes one frame, kept for the caller
//! instead of logged.
//!
//! OpenJPEG reports through message handlers that the `jpeg2k` crate
//! forwards to the `log` facade, at ERROR for every problem; the binary's
//! subscriber (`tracing_subscriber::fmt().init()`, which bridges `log`
//! records into `tracing`) would print them as `ERROR jpeg2k::codec: …`
//! lines with no frame or instance to go with them. [`capture`] runs a
//! decode with a thread-local `tracing` dispatcher that keeps the warnings
//! and errors emitted on this thread (OpenJPEG runs single-threaded here:
//! `jpeg2k` is built without its `threads` feature) and hands them back,
//! so the error returned carries them and the caller logs one line with
//! its own context at the level it chooses.
//!
//! Only `log` records that reach `tracing` are seen: with no bridge
//! installed (`tracing_log::LogTracer`), `jpeg2k`'s records go wherever the
//! `log` logger sends them, and the captured list is empty.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::OnceLock;

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};

/// At most this many messages are kept per decode (OpenJPEG may repeat
/// one per code-block).
const MAX_MESSAGES: usize = 8;
/// Each message is cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 200;

thread_local! {
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Runs `decode`, returning its result and the warnings and errors the
/// codec emitted meanwhile on this thread (bounded, in order, repeats
/// dropped).
pub(crate) fn capture<T>(decode: impl FnOnce() -> T) -> (T, Vec<String>) {
    static DISPATCH: OnceLock<Dispatch> = OnceLock::new();
    // One dispatcher for the process: registering one rebuilds every
    // callsite's interest, too costly per frame.
    let dispatch = DISPATCH.get_or_init(|| Dispatch::new(Capture));
    let outer = CAPTURED.with(|c| c.borrow_mut().replace(Vec::new()));
    let result = tracing::dispatcher::with_default(dispatch, decode);
    let messages = CAPTURED.with(|c| std::mem::replace(&mut *c.borrow_mut(), outer)).unwrap_or_default();
    (result, messages)
}

/// The messages as one clause for an error: `"; codec: a; b"`, or nothing.
pub(crate) fn suffix(messages: &[String]) -> String {
    if messages.is_empty() { String::new() } else { format!("; codec: {}", messages.join("; ")) }
}

/// Keeps WARN and ERROR events in [`CAPTURED`]; ignores spans.
struct Capture;

impl Subscriber for Capture {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // "sometimes": this dispatcher is only ever scoped to a decode.
        if self.enabled(metadata) { Interest::sometimes() } else { Interest::never() }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::WARN)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = Message(String::new());
        event.record(&mut text);
        let message = clean(&text.0);
        if message.is_empty() {
            return;
        }
        CAPTURED.with(|c| {
            if let Some(list) = c.borrow_mut().as_mut()
                && list.len() < MAX_MESSAGES
                && !list.contains(&message)
            {
                list.push(message);
            }
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The `message` field of an event.
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

/// `jpeg2k` logs `{:?}` of OpenJPEG's text: drop the quotes and the
/// escaped newline, cut to a bounded length.
fn clean(raw: &str) -> String {
    let text = raw.trim();
    let text = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    let text = text.trim_end_matches("\\n").trim();
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_and_errors_of_this_thread_are_kept_once_and_bounded() {
        let ((), messages) = capture(|| {
            tracing::error!("Malformed HT codeblock.");
            tracing::error!("Malformed HT codeblock.");
            tracing::warn!("{:?}", "Stream too short\n");
            tracing::info!("not kept");
            for i in 0..20 {
                tracing::error!("message {i}");
            }
        });
        assert_eq!(messages[..2], ["Malformed HT codeblock.".to_string(), "Stream too short".to_string()]);
        assert_eq!(messages.len(), MAX_MESSAGES);
        assert_eq!(suffix(&messages[..1]), "; codec: Malformed HT codeblock.");
        assert_eq!(suffix(&[]), "");
        // Nothing is kept once the decode is over.
        let ((), after) = capture(|| ());
        assert!(after.is_empty());
    }
}
