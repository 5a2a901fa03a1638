//! `files.open`: the runner starts `oqto-files` for a workspace on a private socket, shares
//! it for the same directory, lets it go when idle and ends it when it stops.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use oqto_testkit::wait_until;
use serde_json::{Value, json};

use crate::support::{Runner, WAIT, alive};

/// A files-protocol connection: the server's pid (from the socket's peer credentials) and
/// its welcome.
struct FilesConn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    pid: i32,
}

impl FilesConn {
    fn connect(socket: &Path) -> Self {
        let stream = UnixStream::connect(socket).expect("connect to the file server");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let pid = oqto_ipc::socket::peer_cred(&stream)
            .unwrap()
            .pid
            .expect("a peer pid");
        let mut conn = Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            pid,
        };
        let welcome = conn.line(&json!({"type":"hello","protocol":1,"client":"it-files/1"}));
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        assert_eq!(welcome["server"], "oqto-files", "{welcome}");
        conn
    }

    fn line(&mut self, request: &Value) -> Value {
        writeln!(self.writer, "{request}").unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("an answer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }
}

fn open(runner: &Runner, args: &Value) -> (PathBuf, String) {
    let mut request = json!({"type":"files.open"});
    for (k, v) in args.as_object().unwrap() {
        request[k] = v.clone();
    }
    let result = runner.client().ok(request);
    assert_eq!(result["type"], "files_server", "{result}");
    (
        PathBuf::from(result["socket"].as_str().unwrap()),
        result["root"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn one_server_per_directory_is_started_and_shared() {
    let runner = Runner::start("[runner]\n");
    runner.env.write("work/hello.txt", "hi");
    let other = runner.env.root().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let session = runner.client().create("fake", &runner.work());
    let (socket, root) = open(&runner, &json!({"session": session}));
    assert_eq!(
        Path::new(&root),
        std::fs::canonicalize(runner.env.work()).unwrap()
    );
    assert!(
        socket.starts_with(runner.socket.parent().unwrap().join("files")),
        "{}",
        socket.display()
    );
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private socket");

    // The same directory, by session or by path, gets the same server.
    assert_eq!(open(&runner, &json!({"session": session})).0, socket);
    assert_eq!(open(&runner, &json!({"cwd": runner.work()})).0, socket);
    let (elsewhere, _) = open(&runner, &json!({"cwd": other.display().to_string()}));
    assert_ne!(elsewhere, socket);

    let mut conn = FilesConn::connect(&socket);
    let list = conn.line(&json!({"id":"l1","type":"list","path":""}));
    assert_eq!(list["type"], "ok", "{list}");
    assert!(list.to_string().contains("hello.txt"), "{list}");
    // The server is the runner's child.
    assert!(oqto_ipc::spawn::children(runner.pid()).contains(&conn.pid));
}

#[test]
fn bad_requests_get_typed_errors() {
    let runner = Runner::start("[runner]\n");
    let mut client = runner.client();
    let (code, message) = client.error(json!({"type":"files.open","session":"ses_nope"}));
    assert_eq!(code, "session_not_found", "{message}");
    let (code, _) = client.error(json!({"type":"files.open","cwd":"relative/dir"}));
    assert_eq!(code, "bad_request");
    let (code, _) = client.error(json!({"type":"files.open"}));
    assert_eq!(code, "bad_request");
    let (code, _) = client.error(json!({"type":"files.open","session":"ses_x","cwd":"/tmp"}));
    assert_eq!(code, "bad_request");
    let missing = runner.env.root().join("missing").display().to_string();
    let (code, _) = client.error(json!({"type":"files.open","cwd":missing}));
    assert_eq!(code, "not_found");
    let file = runner.env.write("work/a-file", "x").display().to_string();
    let (code, _) = client.error(json!({"type":"files.open","cwd":file}));
    assert_eq!(code, "not_a_directory");
    // The connection lives on.
    client.ok(json!({"type":"session.list"}));
}

#[test]
fn an_idle_server_is_reaped_and_started_again_on_demand() {
    let runner = Runner::start("[runner]\nfiles_idle_timeout = \"1s\"\n");
    let other = runner.env.root().join("other");
    std::fs::create_dir_all(&other).unwrap();
    // Two servers: one with a client connected, one (started after it) without.
    let (socket, _) = open(&runner, &json!({"cwd": runner.work()}));
    let mut conn = FilesConn::connect(&socket);
    let pid = conn.pid;
    let (lonely, _) = open(&runner, &json!({"cwd": other.display().to_string()}));
    let lonely_pid = FilesConn::connect(&lonely).pid;
    // Once the one without a client went, the idle time has passed for both; the one with
    // a client stays and still answers.
    assert!(
        wait_until(WAIT, || !alive(lonely_pid) && !lonely.exists()),
        "the idle server did not go"
    );
    assert!(alive(pid), "a server with a client was reaped");
    let stat = conn.line(&json!({"id":"s1","type":"stat","path":""}));
    assert_eq!(stat["type"], "ok", "{stat}");
    // Its client gone, it goes too.
    drop(conn);
    assert!(
        wait_until(WAIT, || !alive(pid) && !socket.exists()),
        "the idle server did not go"
    );
    let (again, _) = open(&runner, &json!({"cwd": runner.work()}));
    assert_ne!(again, socket, "a new server");
    let conn = FilesConn::connect(&again);
    assert_ne!(conn.pid, pid);
}

#[test]
fn the_runner_ends_its_file_servers_when_it_stops() {
    let mut runner = Runner::start("[runner]\n");
    let other = runner.env.root().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (first, _) = open(&runner, &json!({"cwd": runner.work()}));
    let (second, _) = open(&runner, &json!({"cwd": other.display().to_string()}));
    // One with a client connected, one without.
    let conn = FilesConn::connect(&first);
    let pids = [conn.pid, FilesConn::connect(&second).pid];
    assert!(runner.stop().success());
    for pid in pids {
        assert!(!alive(pid), "file server {pid} outlived the runner");
    }
    assert!(!first.exists() && !second.exists(), "sockets removed");
}

#[test]
fn a_killed_runner_leaves_no_file_server_behind() {
    let mut runner = Runner::start("[runner]\n");
    let (socket, _) = open(&runner, &json!({"cwd": runner.work()}));
    let pid = FilesConn::connect(&socket).pid;
    runner.kill9();
    assert!(
        wait_until(WAIT, || !alive(pid) && !socket.exists()),
        "file server {pid} outlived the killed runner"
    );
}
