//! What a command concluded, which decides the exit code: 0 with the JSON, or 1 with the JSON
//! and the reason on stderr (2, bad input, is an error instead).

use serde_json::Value;

/// What a command concluded.
pub enum Outcome {
    /// Success: print the JSON, exit 0.
    Ok(Value),
    /// A well-formed input that fails verification: print the JSON, say why on stderr, exit 1.
    Refused(Value, String),
}
