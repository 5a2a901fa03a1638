//! Each escape attempt, run inside the sandbox as an agent would run it, must fail.

use std::io::Read as _;
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::process::Stdio;

use crate::support::{DEADLINE, SECRET, Sandbox, output};

#[test]
fn reading_a_denied_ssh_key_fails() {
    let sb = Sandbox::new();
    let run = sb.sh("cat ~/.ssh/id_ed25519; ls -la ~/.ssh");
    assert!(!run.stdout.contains(SECRET), "{run:#?}");
    assert!(!run.stdout.contains("id_ed25519"), "{run:#?}");
    // Control: the key is there on the host, and home itself is readable inside.
    assert_eq!(
        std::fs::read_to_string(sb.home().join(".ssh/id_ed25519")).unwrap(),
        SECRET
    );
    sb.env.write("home/notes.txt", "visible");
    sb.sh("cat ~/notes.txt").assert_code(0);
}

#[test]
fn writing_to_home_fails() {
    let sb = Sandbox::new();
    sb.sh("echo x > ~/escaped").assert_failed();
    assert!(!sb.home().join("escaped").exists());
}

#[test]
fn writing_to_etc_fails() {
    let sb = Sandbox::new();
    let name = format!("oqto-escape-{}", std::process::id());
    sb.sh(&format!("echo x > /etc/{name}")).assert_failed();
    assert!(!std::path::Path::new("/etc").join(&name).exists());
}

#[test]
fn writing_to_the_host_tmp_fails() {
    let sb = Sandbox::new();
    let name = format!("oqto-escape-{}-{}", std::process::id(), line!());
    let host = std::path::Path::new("/tmp").join(&name);
    // The private /tmp accepts the write, but it never reaches the host's /tmp.
    let run = sb.sh(&format!("echo x > /tmp/{name} && cat /tmp/{name}"));
    run.assert_code(0);
    assert!(!host.exists(), "{} leaked to the host", host.display());
}

#[test]
fn writing_to_a_sibling_workspace_fails() {
    let sb = Sandbox::new();
    let sibling = sb.env.work().join("other-project");
    std::fs::create_dir_all(&sibling).unwrap();
    std::fs::write(sibling.join("file.txt"), "original").unwrap();
    sb.sh(&format!(
        "echo x > {0}/new.txt || echo x > {0}/file.txt",
        sibling.display()
    ))
    .assert_failed();
    sb.sh("echo x > ../other-project/file.txt").assert_failed();
    assert!(!sibling.join("new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(sibling.join("file.txt")).unwrap(),
        "original"
    );
    // Control: the workspace itself is writable.
    sb.sh("echo ok > mine.txt").assert_code(0);
    assert!(sb.ws.join("mine.txt").exists());
}

#[test]
fn rewriting_the_workspace_policy_fails() {
    let sb = Sandbox::new();
    let policy = sb.write_workspace_policy("isolate_network = true\n");
    sb.sh("echo 'enabled = false' > .oqto/sandbox.toml")
        .assert_failed();
    sb.sh("rm -f .oqto/sandbox.toml").assert_failed();
    sb.sh("mv .oqto/sandbox.toml .oqto/old.toml")
        .assert_failed();
    sb.sh("mv .oqto .oqto-old").assert_failed();
    assert_eq!(
        std::fs::read_to_string(&policy).unwrap(),
        "isolate_network = true\n"
    );
}

/// A TCP server on the host's loopback that records whether anything connected.
fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn connect_script(port: u16) -> String {
    format!(
        "/usr/bin/python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=5); print(\"connected\")'"
    )
}

#[test]
fn connecting_to_the_host_under_isolate_network_fails() {
    let sb = Sandbox::new();
    let (listener, port) = listener();
    sb.write_user_policy("isolate_network = true\n");
    let run = sb.sh(&connect_script(port));
    run.assert_failed();
    assert!(!run.stdout.contains("connected"), "{run:#?}");
    assert!(
        listener.accept().is_err(),
        "nothing reached the host server"
    );

    // Control: without isolation the same attempt connects.
    let open = Sandbox::new();
    let run = open.sh(&connect_script(port));
    run.assert_code(0);
    assert!(run.stdout.contains("connected"), "{run:#?}");
}

#[test]
fn host_processes_are_invisible_with_isolate_pid() {
    let sb = Sandbox::new();
    let mut host = oqto_ipc::spawn::Spawn::new("sleep")
        .arg("60")
        .envs(sb.env.vars())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = host.id();
    let run = sb.sh(&format!(
        "test -e /proc/{pid} && echo visible; kill -0 {pid} && echo signalled; ls /proc | grep -c '^[0-9]'"
    ));
    let _ = oqto_ipc::spawn::terminate_blocking(&mut host, DEADLINE);
    run.assert_code(0);
    assert!(!run.stdout.contains("visible"), "{run:#?}");
    assert!(!run.stdout.contains("signalled"), "{run:#?}");
    let count: usize = run.stdout.trim().lines().last().unwrap().parse().unwrap();
    assert!(count < 10, "only the sandbox's own processes: {run:#?}");
}

/// python3 pushing a character with TIOCSTI on fd `fd`, printing the errno (0: success).
fn tiocsti(fd: &str, high_bits: bool) -> String {
    let request = if high_bits {
        "termios.TIOCSTI | (1 << 32)"
    } else {
        "termios.TIOCSTI"
    };
    format!(
        "/usr/bin/python3 -c '
import fcntl, termios, os
fd = {fd}
try:
    fcntl.ioctl(fd, {request}, b\"x\")
    print(\"errno=0\")
except OSError as e:
    print(\"errno=%d\" % e.errno)
'"
    )
}

#[test]
fn tiocsti_is_blocked_by_the_seccomp_filter() {
    let sb = Sandbox::new();
    // On a file that is not a terminal the kernel answers ENOTTY (25); only the filter
    // answers EPERM (1), so this tells the filter apart from the kernel's own checks
    // (dev.tty.legacy_tiocsti, the controlling-terminal rule).
    let outside = output(
        oqto_ipc::spawn::Spawn::new("sh")
            .args(["-c", &tiocsti("os.open(\"/dev/null\", os.O_RDWR)", false)])
            .envs(sb.env.vars()),
    );
    assert_eq!(outside.stdout.trim(), "errno=25", "{outside:#?}");
    for high_bits in [false, true] {
        let run = sb.sh(&tiocsti("os.open(\"/dev/null\", os.O_RDWR)", high_bits));
        run.assert_code(0);
        assert_eq!(
            run.stdout.trim(),
            "errno=1",
            "high bits {high_bits}: {run:#?}"
        );
    }
}

#[test]
fn tiocsti_cannot_push_into_the_terminal() {
    let sb = Sandbox::new();
    let pty = nix::pty::openpty(None, None).unwrap();
    let master: OwnedFd = pty.master;
    let slave: OwnedFd = pty.slave;
    let run = output(
        sb.spawn([
            "--workspace".as_ref(),
            sb.ws.as_os_str(),
            "--".as_ref(),
            "sh".as_ref(),
            "-c".as_ref(),
            std::ffi::OsStr::new(&tiocsti("0", false)),
        ])
        .stdin(Stdio::from(slave)),
    );
    run.assert_code(0);
    assert_eq!(run.stdout.trim(), "errno=1", "{run:#?}");
    // Nothing arrived at the terminal's input.
    nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut file = std::fs::File::from(master);
    let mut buf = [0u8; 64];
    let n = file.read(&mut buf).unwrap_or(0);
    assert!(!buf[..n].contains(&b'x'), "injected: {:?}", &buf[..n]);
}

#[test]
fn a_symlink_to_a_denied_path_reveals_nothing() {
    let sb = Sandbox::new();
    std::os::unix::fs::symlink(sb.home().join(".ssh/id_ed25519"), sb.ws.join("key")).unwrap();
    std::os::unix::fs::symlink(sb.home().join(".ssh"), sb.ws.join("sshdir")).unwrap();
    let run = sb.sh("cat key; cat sshdir/id_ed25519; ls sshdir");
    assert!(!run.stdout.contains(SECRET), "{run:#?}");
    assert!(!run.stdout.contains("id_ed25519"), "{run:#?}");
    // Planting a new link from inside does not help either.
    let run = sb.sh(&format!(
        "ln -s {}/.ssh/id_ed25519 planted && cat planted",
        sb.home().display()
    ));
    assert!(!run.stdout.contains(SECRET), "{run:#?}");
}

#[test]
fn a_workspace_policy_cannot_weaken_the_user_policy() {
    let sb = Sandbox::new();
    let (listener, port) = listener();
    sb.write_user_policy("profile = \"strict\"\n");
    sb.write_workspace_policy(
        "profile = \"minimal\"\nisolate_network = false\nisolate_pid = false\n\
         allow_write = [\"~\", \"/etc\"]\nallow_read = [\"~/.ssh\"]\nenv_allow = [\"*\"]\n",
    );
    sb.sh("echo x > ~/escaped").assert_failed();
    assert!(!sb.home().join("escaped").exists());
    let run = sb.sh(&connect_script(port));
    run.assert_failed();
    assert!(listener.accept().is_err());
    let run = sb.sh("cat ~/.ssh/id_ed25519");
    assert!(!run.stdout.contains(SECRET), "{run:#?}");
    let run = sb.sh("ls /proc | grep -c '^[0-9]'");
    let count: usize = run.stdout.trim().parse().unwrap();
    assert!(count < 10, "{run:#?}");

    let explained = sb.run(["explain", "--json"]);
    explained.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&explained.stdout).unwrap();
    assert_eq!(v["isolate_network"]["value"], true);
    assert_eq!(v["isolate_pid"]["value"], true);
    assert_eq!(v["allow_write"], serde_json::json!([]));
}

#[test]
fn a_workspace_policy_cannot_disable_the_sandbox() {
    let sb = Sandbox::new();
    let path = sb.write_workspace_policy("# off\nenabled = false\n");
    let run = sb.sh("echo ran > ran.txt");
    run.assert_code(125);
    assert!(
        run.stderr.contains(&format!("{}:2:", path.display())),
        "{run:#?}"
    );
    assert!(!sb.ws.join("ran.txt").exists(), "the command did not run");
}
