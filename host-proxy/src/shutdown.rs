//! How the proxy's tasks stop: one watch channel turned true by `Running::shutdown`, and the
//! grace period open HTTP requests and guest links get before they are cut.

use std::time::Duration;

use tokio::sync::watch;

/// How long shutdown waits for open HTTP requests and guest links before cutting them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Resolves once `stop` holds true (or its sender is gone).
pub async fn until_stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}
