//! Acting as another user against a socket server: a few lines of perl run as `nobody`
//! (uid and gid 65534) with `setpriv`. Needs root (CI runs as root) and `/usr/bin/perl`,
//! which every Debian system has.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use oqto_ipc::spawn::Spawn;

use crate::TestEnv;

// SIGPIPE is ignored: a refused client may find the connection already closed when it
// writes its hello (the server answers and closes without reading); the answer is still
// there to read.
const CLIENT: &str = r#"
use IO::Socket::UNIX;
$SIG{PIPE} = 'IGNORE';
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $ARGV[0]) or die "connect: $!";
print $s qq({"type":"hello","protocol":1,"client":"other-user"}\n);
my $line = <$s>;
print $line;
"#;

/// Whether this process can act as another user (root, and perl for the client).
pub fn available() -> bool {
    nix::unistd::geteuid().is_root() && Path::new("/usr/bin/perl").exists()
}

/// What a client running as `nobody`, with `groups` as its supplementary groups (none:
/// cleared), reads first from the server on `socket` in `env` after its `hello`. The
/// socket and its directories are opened up to everyone first: the server itself must
/// decide.
pub fn first_line_as_nobody(env: &TestEnv, socket: &Path, groups: &[u32]) -> String {
    for dir in [env.root(), &env.runtime_dir(), socket.parent().unwrap()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let groups = if groups.is_empty() {
        "--clear-groups".to_owned()
    } else {
        let list: Vec<String> = groups.iter().map(u32::to_string).collect();
        format!("--groups={}", list.join(","))
    };
    let out = Spawn::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            &groups,
            "/usr/bin/perl",
            "-e",
            CLIENT,
        ])
        .arg(socket)
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
