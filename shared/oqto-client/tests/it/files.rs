//! The files client against a real `oqto-files --socket`, with a small `--max-chunk` so
//! reads and uploads take several raw frames.

use std::process::{Child, Stdio};

use oqto_client::{FilesClient, FilesIncoming};
use oqto_ipc::spawn::Spawn;
use oqto_protocol::{ErrorCode, FilesCommand, FilesEvent, FilesReply, SearchMode};
use oqto_testkit::{TestEnv, wait_until};

use crate::support::{WAIT, built};

const CHUNK: usize = 4096;

struct Server {
    env: TestEnv,
    child: Child,
    socket: std::path::PathBuf,
}

impl Server {
    fn start() -> Self {
        let env = TestEnv::new();
        let socket = env.runtime_dir().join("oqto/files.sock");
        let child = Spawn::new(built("oqto-files"))
            .envs(env.vars())
            .arg("--root")
            .arg(env.work())
            .arg("--socket")
            .arg(&socket)
            .arg("--max-chunk")
            .arg(CHUNK.to_string())
            .stdin(Stdio::null())
            .spawn()
            .expect("start oqto-files");
        let mut server = Self { env, child, socket };
        let up = wait_until(WAIT, || {
            oqto_ipc::socket::is_live(&server.socket) || server.child.try_wait().unwrap().is_some()
        });
        assert!(
            up && server.child.try_wait().unwrap().is_none(),
            "oqto-files did not come up"
        );
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bytes that are not text and do not repeat within a chunk.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 7 + i / 251) % 256).expect("below 256"))
        .collect()
}

#[tokio::test]
async fn reads_and_uploads_span_several_raw_frames_byte_for_byte() {
    let server = Server::start();
    let mut files = FilesClient::connect(&server.socket, "client-test/1")
        .await
        .unwrap();
    assert_eq!(files.welcome.server, "oqto-files");
    assert_eq!(files.welcome.limits.max_chunk, CHUNK as u64);

    let content = pattern(CHUNK * 3 + 123);
    std::fs::write(server.env.work().join("blob.bin"), &content).unwrap();
    let read = files.read("blob.bin").await.unwrap();
    assert_eq!(read.bytes.len(), content.len());
    assert!(read.bytes == content, "read back byte for byte");
    let FilesReply::Read { size, binary, .. } = read.reply else {
        panic!("{:?}", read.reply)
    };
    assert_eq!(size, content.len() as u64);
    assert!(binary);

    let upload = pattern(CHUNK * 2 + 5);
    let written = files.upload("up/loaded.bin", &upload, true).await.unwrap();
    assert!(matches!(written, FilesReply::Written { .. }), "{written:?}");
    assert!(std::fs::read(server.env.work().join("up/loaded.bin")).unwrap() == upload);
    // Read back over the same connection: frames of one read stay in order.
    assert!(files.read("up/loaded.bin").await.unwrap().bytes == upload);
}

#[tokio::test]
async fn errors_carry_their_code_and_the_connection_goes_on() {
    let server = Server::start();
    let mut files = FilesClient::connect(&server.socket, "client-test/1")
        .await
        .unwrap();
    let err = files.read("../outside").await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::InvalidPath), "{err}");
    std::os::unix::fs::symlink("/etc", server.env.work().join("out")).unwrap();
    let err = files.read("out/passwd").await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::OutsideRoot), "{err}");
    let err = files.read("missing.txt").await.unwrap_err();
    assert_eq!(err.code(), Some(&ErrorCode::NotFound), "{err}");
    let reply = files
        .request(FilesCommand::Write {
            path: "ok.txt".into(),
            content: "still here\n".into(),
            create_parents: false,
            expect: None,
        })
        .await
        .unwrap();
    assert!(matches!(reply, FilesReply::Written { .. }));
    assert_eq!(files.read("ok.txt").await.unwrap().bytes, b"still here\n");
}

#[tokio::test]
async fn search_matches_arrive_as_events_before_the_reply() {
    let server = Server::start();
    for i in 0..3 {
        std::fs::write(
            server.env.work().join(format!("f{i}.txt")),
            format!("a line\nTODO number {i}\n"),
        )
        .unwrap();
    }
    let mut files = FilesClient::connect(&server.socket, "client-test/1")
        .await
        .unwrap();
    let id = files
        .send(FilesCommand::Search {
            path: String::new(),
            mode: SearchMode::Regex,
            pattern: "TODO".into(),
            case_insensitive: false,
            hidden: false,
            gitignore: None,
            include: None,
            max_results: None,
            time_ms: None,
        })
        .await
        .unwrap();
    let mut matched = 0;
    let reply = tokio::time::timeout(WAIT, async {
        loop {
            match files.next().await {
                FilesIncoming::Event(FilesEvent::SearchMatches { id: of, matches }) => {
                    assert_eq!(of, id);
                    matched += matches.len();
                }
                FilesIncoming::Reply(of, result) if of == id => return result.unwrap(),
                FilesIncoming::Closed(why) => panic!("closed: {why:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("the search ends");
    assert_eq!(matched, 3);
    assert!(
        matches!(
            reply,
            FilesReply::Searched {
                matches: 3,
                files: 3,
                ..
            }
        ),
        "{reply:?}"
    );
}
