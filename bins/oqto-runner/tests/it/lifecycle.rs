//! Idle reaping and transparent restarts.

use std::process::Stdio;

use oqto_ipc::spawn::Spawn;
use serde_json::json;

use crate::support::{Runner, WAIT, agents, assistant_texts, children, runner_bin};

#[test]
fn an_idle_session_without_subscribers_releases_its_harness() {
    let runner = Runner::start("[runner]\nidle_timeout = \"500ms\"\n");
    let mut c = runner.client();
    let work = runner.work();
    let session = c.create("fake", &work);
    c.turn(&session, "hello");
    assert_eq!(agents(runner.pid()).len(), 1);
    // Subscribed: never reaped.
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(
        agents(runner.pid()).len(),
        1,
        "a watched session keeps its harness"
    );
    c.ok(json!({"type":"session.unsubscribe","session":session}));
    assert!(oqto_testkit::wait_until(WAIT, || children(runner.pid()).is_empty()));
    let info = c.ok(json!({"type":"session.get","session":session}));
    assert_eq!(info["session"]["state"], "stopped");
    assert!(
        info["session"]["reason"].as_str().unwrap().contains("idle"),
        "{info}"
    );
    // The next prompt brings it back, resuming the agent's own conversation.
    c.ok(json!({"type":"session.subscribe","session":session}));
    let events = c.turn(&session, "back");
    assert_eq!(assistant_texts(&events), ["echo: back"]);
    let page = c.ok(json!({"type":"get_messages","session":session}));
    assert_eq!(page["messages"].as_array().unwrap().len(), 4);
}

#[test]
fn runner_shutdown_request_stops_the_runner() {
    let mut runner = Runner::start("");
    let mut c = runner.client();
    c.ok(json!({"type":"runner.shutdown"}));
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = runner.exited() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
    runner.child = None;
    assert!(!runner.socket.exists());
}

/// systemd socket activation, with python3 playing systemd: it binds the socket, puts it
/// on fd 3, sets `LISTEN_FDS=1` and `LISTEN_PID` to its own pid, and execs the runner.
#[test]
fn socket_activation_uses_the_passed_socket_and_leaves_it_in_place() {
    let Ok(python) = which_python() else {
        panic!("python3 is needed for the socket-activation test");
    };
    let env = oqto_testkit::TestEnv::new();
    let socket = env.root().join("activated.sock");
    let script = r#"
import os, socket, sys
path, runner = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(runner, [runner, "--socket", path + ".unused"])
"#;
    let log = std::fs::File::create(env.root().join("runner.log")).unwrap();
    let mut child = oqto_ipc::spawn::Spawn::new(python)
        .arg("-c")
        .arg(script)
        .arg(&socket)
        .arg(crate::support::runner_bin())
        .envs(env.vars())
        .stderr(log)
        .spawn()
        .unwrap();
    assert!(oqto_testkit::wait_until(
        WAIT,
        || oqto_ipc::socket::is_live(&socket)
    ));
    let mut c = crate::support::Client::connect(&socket);
    let status = c.ok(json!({"type":"runner.status"}));
    assert_eq!(status["status"]["pid"], child.id());
    assert!(
        !env.root().join("activated.sock.unused").exists(),
        "did not bind its own"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(socket.exists(), "an activated socket belongs to systemd");
}

fn which_python() -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("python3"))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn a_second_runner_on_the_same_data_directory_refuses_naming_the_first_socket() {
    let first = Runner::start("");
    let socket = first.env.runtime_dir().join("oqto/runner.sock");
    let out = Spawn::new(runner_bin())
        .envs(first.env.vars())
        .arg("--socket")
        .arg(first.env.root().join("other.sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a second runner")
        .wait_with_output()
        .expect("wait for it");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another oqto-runner")
            && stderr.contains(&socket.display().to_string())
            && stderr.contains("hint: clients reach it with --socket"),
        "{stderr}"
    );
    assert!(!first.env.root().join("other.sock").exists());
    // The first one is untouched.
    let mut c = first.client();
    c.ok(json!({"type":"runner.status"}));
}
