//! Who may connect: the runner's own uid, plus `allow_uids` / `allow_groups`.
//!
//! Needs root (to act as another user with `setpriv`); CI runs as root. The other user's
//! client is a few lines of perl, which every Debian system has.

use oqto_testkit::other_user;

use crate::support::Runner;

/// What a client running as `nobody` (uid 65534) reads first from the runner.
fn first_line_as_nobody(runner: &Runner) -> String {
    other_user::first_line_as_nobody(&runner.env, &runner.socket, &[])
}

#[test]
fn another_user_is_refused_unless_allowed() {
    if !other_user::available() {
        eprintln!("skipped: needs root and /usr/bin/perl to act as another user");
        return;
    }
    let runner = Runner::start("");
    let line = first_line_as_nobody(&runner);
    assert!(line.contains("\"permission_denied\""), "{line}");
    assert!(line.contains("uid 65534"), "{line}");
    // The runner serves its own user as before.
    runner.client();

    let runner = Runner::start("[runner]\nallow_uids = [65534]\n");
    let line = first_line_as_nobody(&runner);
    assert!(line.contains("\"welcome\""), "{line}");

    let runner = Runner::start("[runner]\nallow_groups = [65534]\n");
    let line = first_line_as_nobody(&runner);
    assert!(line.contains("\"welcome\""), "{line}");
}
