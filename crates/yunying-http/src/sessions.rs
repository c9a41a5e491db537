//! Session cookies of signed-in people: checked by the access layer's
//! people module (accounts, sessions, second factor).

use yunying_access::{Denied, Principal};

use crate::AppState;

/// The person a session cookie names, if the session is live.
pub(crate) async fn authenticate(_state: &AppState, _token: &str) -> Result<Option<Principal>, Denied> {
    Err(Denied::Unauthenticated("unknown or expired session".into()))
}
