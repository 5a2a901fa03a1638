//! Who may connect: the runner's own uid, plus `allow_uids` / `allow_groups`.
//!
//! Needs root (to act as another user with `setpriv`); CI runs as root. The other user's
//! client is a few lines of perl, which every Debian system has.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use oqto_ipc::spawn::Spawn;

use crate::support::Runner;

// SIGPIPE is ignored: a refused client may find the connection already closed when it
// writes its hello (the runner answers and closes without reading); the answer is still
// there to read.
const CLIENT: &str = r#"
use IO::Socket::UNIX;
$SIG{PIPE} = 'IGNORE';
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $ARGV[0]) or die "connect: $!";
print $s qq({"type":"hello","protocol":1,"client":"other-user"}\n);
my $line = <$s>;
print $line;
"#;

/// What a client running as `nobody` (uid 65534) reads first from the runner.
fn first_line_as_nobody(runner: &Runner) -> String {
    // Let `nobody` reach the socket through the file system; the runner itself must decide.
    for dir in [
        runner.env.root(),
        &runner.env.runtime_dir(),
        runner.socket.parent().unwrap(),
    ] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&runner.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = Spawn::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/perl",
            "-e",
            CLIENT,
        ])
        .arg(&runner.socket)
        .env_inherit(["PATH"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .std_command()
        .output()
        .expect("run setpriv");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn is_root() -> bool {
    oqto_ipc::socket::current_uid() == 0 && Path::new("/usr/bin/perl").exists()
}

#[test]
fn another_user_is_refused_unless_allowed() {
    if !is_root() {
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
